"""`tidings dlq list|show|replay` against a real broker and Postgres, on dead letters produced here
by the header contract in consumer/failure_headers.py and recorded by the tracking sink's handler."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import psycopg

from consumer import failure_headers as fh
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION, delivery_event, delivery_id, utcnow
from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.topics import Topics
from tests.cli.run import tidings
from tests.pipeline import make_notifications, read_topic
from consumer.pacing import Pacer as RatePacer
from tracking.sink import SinkService
from tracking.store import DeliveryLog

GARBAGE = b"\x00\xff\xfe not avro \x01"


def channel_message(channel: str = "webhook", replay: int = 0) -> dict:
    notification_id = str(uuid.uuid4())
    return {"delivery_id": delivery_id(notification_id, channel), "notification_id": notification_id,
            "channel": channel, "priority": "HIGH", "created_at": utcnow(), "source": "tests", "tenant": "acme",
            "category": "test", "recipient_id": "user-7", "address": "https://hooks.example.com/x",
            "subject": "s", "text": "hello", "html": None, "template": None, "data": "{}", "expires_at": None,
            "attempt": 4, "replay": replay}


class DeadLetters:
    """Produces dead letters the way the pipeline's stages do, and remembers them."""

    def __init__(self, settings):
        self.settings = settings
        self.codec, self.names = Codec.from_settings(settings), Topics(settings.topic_prefix)
        self.publisher = Publisher.from_settings(settings)
        self.offset = 100

    def _send(self, value: bytes, key: bytes, *, original_topic: str, error_class: str, stage: str, reason: str,
              at: datetime | None = None, **known: str | None) -> None:
        self.offset += 1
        context = fh.FailureContext(original_topic, 1, self.offset, utcnow() - timedelta(minutes=5))
        headers = context.headers(attempt=4, error_class=error_class, error_message=f"{error_class} happened",
                                  group="tidings.channel", more={
                                      fh.STAGE: stage, fh.REASON: reason, fh.DEAD_LETTERED_AT: fh.iso(at or utcnow()),
                                      fh.NOTIFICATION_ID: known.get("notification_id"),
                                      fh.DELIVERY_ID: known.get("delivery_id"), fh.CHANNEL: known.get("channel")})
        self.publisher.publish_sync(self.names.dlq, value, key=key, headers=headers + [("trace", b"abc")])

    def channel(self, message: dict, error_class: str = "HttpStatus", reason: str = "retries_exhausted", **kw) -> dict:
        self._send(self.codec.encode(CHANNEL_MESSAGE, message), message["recipient_id"].encode(),
                   original_topic=self.names.channel(message["channel"], "high"), error_class=error_class,
                   stage=f"channel-{message['channel']}", reason=reason, notification_id=message["notification_id"],
                   delivery_id=message["delivery_id"], channel=message["channel"], **kw)
        return message

    def unknown_channel(self) -> dict:
        event = make_notifications(1, "https://hooks.example.com/x")[0]
        self._send(self.codec.encode(NOTIFICATION, event), b"user-0", original_topic=self.names.events("high"),
                   error_class="UnknownChannel", stage="router", reason="unknown_channel", notification_id=event["id"])
        return event

    def undecodable(self, notification_id: str | None = None) -> None:
        self._send(GARBAGE, b"poison", original_topic=self.names.events("normal"), error_class="DecodeError",
                   stage="router", reason="undecodable", notification_id=notification_id)

    def flush(self) -> None:
        """Published, and recorded in Postgres as the tracking sink records them."""
        assert self.publisher.close(timeout=30) == 0
        sink_records_dead_letters(self.settings)


def sink_records_dead_letters(settings) -> int:
    """The tracking sink's handler run here on what the dead-letter topic holds (the sink process
    does the same; this spares each test a consumer-group join). Returns how many it was given."""
    messages = read_topic(settings, Topics(settings.topic_prefix).dlq, idle_s=1.0)

    async def record() -> None:
        sink = SinkService(settings, ServiceMetrics("sink"))
        await sink.start()
        try:
            assert not await sink.handle(messages)
        finally:
            await sink.close()
    asyncio.run(record())
    return len(messages)


def run_json(settings, *args: str, **env: str):
    result = tidings(settings, "dlq", *args, "--json", "--idle", "1", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ledger_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT dlq_partition, dlq_offset, original_topic, replay FROM dlq_replays").fetchall()


def test_list_counts_by_channel_and_error_class_with_filters(pipeline):
    dead = DeadLetters(pipeline)
    for _ in range(3):
        dead.channel(channel_message("webhook"))
    dead.channel(channel_message("webhook"), error_class="Timeout", at=utcnow() - timedelta(days=2))
    dead.channel(channel_message("email"), error_class="SmtpReply", reason="permanent")
    dead.undecodable()
    dead.flush()

    listed = run_json(pipeline, "list")
    groups = {(g["channel"], g["error_class"]): g["count"] for g in listed["groups"]}
    assert listed["total"] == listed["matching"] == 6
    assert groups == {("webhook", "HttpStatus"): 3, ("webhook", "Timeout"): 1, ("email", "SmtpReply"): 1,
                      (None, "DecodeError"): 1}
    assert {s["reason"] for s in listed["samples"]} <= {"retries_exhausted", "permanent", "undecodable"}
    assert len(listed["samples"]) == 5 and all(s["error_message"] for s in listed["samples"])

    assert run_json(pipeline, "list", "--channel", "webhook")["matching"] == 4
    assert run_json(pipeline, "list", "--error", "timeout")["matching"] == 1
    assert run_json(pipeline, "list", "--error", "undecodable")["matching"] == 1
    assert run_json(pipeline, "list", "--since", "1d")["matching"] == 5
    assert run_json(pipeline, "list", "--until", "1d", "--channel", "webhook")["matching"] == 1
    future = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert run_json(pipeline, "list", "--since", future)["matching"] == 0

    table = tidings(pipeline, "dlq", "list", "--idle", "1")
    assert table.returncode == 0 and "HttpStatus" in table.stdout and "SmtpReply" in table.stdout
    bad = tidings(pipeline, "dlq", "list", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr


def test_show_gives_every_header_and_the_decoded_payload(pipeline):
    dead = DeadLetters(pipeline)
    message = dead.channel(channel_message("webhook"))
    dead.channel(message, error_class="Timeout")  # the same notification dead-lettered twice
    event = dead.unknown_channel()
    dead.undecodable(notification_id=message["notification_id"])
    dead.channel(channel_message("sms"))
    dead.flush()

    shown = run_json(pipeline, "show", message["notification_id"])
    assert len(shown) == 3 and all(item["topic"] == Topics(pipeline.topic_prefix).dlq for item in shown)
    first = shown[0]
    assert {fh.ATTEMPT, fh.FIRST_FAILURE_AT, fh.ORIGINAL_TOPIC, fh.ORIGINAL_PARTITION, fh.ORIGINAL_OFFSET,
            fh.ERROR_CLASS, fh.ERROR_MESSAGE, fh.CONSUMER_GROUP, fh.STAGE, fh.REASON, fh.DEAD_LETTERED_AT,
            fh.NOTIFICATION_ID, fh.DELIVERY_ID, fh.CHANNEL, "trace"} <= set(first["headers"])
    assert first["headers"][fh.STAGE] == "channel-webhook" and first["key"] == "user-7"
    assert isinstance(first["partition"], int) and isinstance(first["offset"], int)
    records = [item["payload"] for item in shown if item["payload"]["kind"] == "channel_message"]
    assert len(records) == 2 and records[0]["record"]["delivery_id"] == message["delivery_id"]
    assert records[0]["record"]["attempt"] == 4 and records[0]["record"]["address"] == message["address"]
    (raw,) = [item["payload"] for item in shown if item["payload"]["kind"] == "raw"]
    assert bytes.fromhex(raw["hex"]) == GARBAGE and "not avro" in raw["text"]

    (notification,) = run_json(pipeline, "show", str(event["id"]))
    assert notification["payload"]["kind"] == "notification"
    assert notification["payload"]["record"]["recipient"]["id"] == event["recipient"]["id"]

    text = tidings(pipeline, "dlq", "show", message["notification_id"], "--idle", "1")
    assert text.returncode == 0 and GARBAGE.hex() in text.stdout and message["delivery_id"] in text.stdout
    assert tidings(pipeline, "dlq", "show", str(uuid.uuid4()), "--idle", "1").returncode == 1


def test_dry_run_changes_nothing(pipeline):
    dead = DeadLetters(pipeline)
    message = dead.channel(channel_message("webhook"))
    dead.unknown_channel()
    dead.flush()

    result = tidings(pipeline, "dlq", "replay", "--dry-run", "--idle", "1")
    assert result.returncode == 0, result.stderr
    assert "would replay 2" in result.stdout and message["notification_id"] in result.stdout
    assert run_json(pipeline, "replay", "--dry-run")["would_replay"] == 2
    names = Topics(pipeline.topic_prefix)
    assert ledger_rows(pipeline.database_url) == []
    for topic in (names.channel("webhook", "high"), names.events("high"), names.deliveries):
        assert read_topic(pipeline, topic, idle_s=0.5) == []


def test_replay_republishes_to_the_original_topics_once(pipeline):
    dead = DeadLetters(pipeline)
    messages = [dead.channel(channel_message("webhook")), dead.channel(channel_message("webhook", replay=2))]
    event = dead.unknown_channel()
    dead.undecodable()
    dead.flush()
    names, codec = Topics(pipeline.topic_prefix), Codec.from_settings(pipeline)

    summary = run_json(pipeline, "replay", "--yes")
    assert summary["replayed"] == 4 and summary["failures"] == 0

    channel = read_topic(pipeline, names.channel("webhook", "high"))
    decoded = {str(m["delivery_id"]): m for m in (codec.decode(CHANNEL_MESSAGE, r.value()) for r in channel)}
    assert set(decoded) == {m["delivery_id"] for m in messages}
    assert [decoded[m["delivery_id"]]["replay"] for m in messages] == [1, 3]
    assert all(m["attempt"] == 1 and m["text"] == "hello" for m in decoded.values())
    for record in channel:
        headers = dict(record.headers())
        assert record.key() == b"user-7" and headers["trace"] == b"abc"
        assert headers[fh.REPLAYED_FROM].decode().startswith(names.dlq + "/")
        assert not [k for k in headers if k.startswith(fh.PREFIX) and k != fh.REPLAYED_FROM]
    (router,) = read_topic(pipeline, names.events("high"))
    assert str(codec.decode(NOTIFICATION, router.value())["id"]) == str(event["id"]) and router.key() == b"user-0"
    (poison,) = read_topic(pipeline, names.events("normal"))
    assert poison.value() == GARBAGE

    events = [codec.decode(DELIVERY, r.value()) for r in read_topic(pipeline, names.deliveries)]
    assert sorted((str(e["delivery_id"]), e["status"], e["attempt"], e["replay"]) for e in events) == sorted(
        (m["delivery_id"], "replayed", 0, r) for m, r in zip(messages, (1, 3)))
    assert len(ledger_rows(pipeline.database_url)) == 4

    again = run_json(pipeline, "replay", "--yes")
    assert again["replayed"] == 0 and again["skipped_already_replayed"] == 4
    assert len(read_topic(pipeline, names.channel("webhook", "high"))) == 2
    assert len(read_topic(pipeline, names.deliveries)) == 2


def test_replay_skips_sent_deliveries_and_honours_filters(pipeline):
    dead = DeadLetters(pipeline)
    sent, waiting = dead.channel(channel_message("webhook")), dead.channel(channel_message("webhook"))
    other = dead.channel(channel_message("email"))
    dead.flush()

    async def record_sent():
        async with await DeliveryLog.connect(pipeline.database_url) as log:
            await log.record([delivery_event(sent, "sent", attempt=5, replay=0)])
    asyncio.run(record_sent())

    summary = run_json(pipeline, "replay", "--yes", "--channel", "webhook")
    assert summary["replayed"] == 1 and summary["skipped_already_sent"] == 1 and summary["matching"] == 2
    codec, names = Codec.from_settings(pipeline), Topics(pipeline.topic_prefix)
    republished = [codec.decode(CHANNEL_MESSAGE, r.value()) for r in read_topic(pipeline, names.channel("webhook", "high"))]
    assert [str(m["delivery_id"]) for m in republished] == [waiting["delivery_id"]]
    assert read_topic(pipeline, names.channel("email", "high"), idle_s=0.5) == []
    assert [row[2] for row in ledger_rows(pipeline.database_url)] == [names.channel("webhook", "high")]
    assert other["delivery_id"] not in str(ledger_rows(pipeline.database_url))


def test_rate_caps_messages_per_second(pipeline):
    dead = DeadLetters(pipeline)
    for _ in range(6):
        dead.channel(channel_message("webhook"))
    dead.flush()
    summary = run_json(pipeline, "replay", "--yes", "--rate", "5")
    assert summary["replayed"] == 6
    assert summary["elapsed_s"] >= 0.8  # 6 messages at 5/s take at least 1 s; loose on purpose


def test_rate_pacer_spaces_calls_evenly():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = RatePacer(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert slept == [0.25] * 4 and now[0] == 1.0
    RatePacer(None, clock=lambda: 0.0, sleep=lambda s: slept.append(s)).wait()
    assert len(slept) == 4


def test_replay_refuses_without_yes_off_a_terminal_and_needs_a_database(pipeline):
    dead = DeadLetters(pipeline)
    dead.channel(channel_message("webhook"))
    dead.flush()
    refused = tidings(pipeline, "dlq", "replay", stdin="y\n")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert ledger_rows(pipeline.database_url) == []
    assert read_topic(pipeline, Topics(pipeline.topic_prefix).channel("webhook", "high"), idle_s=0.5) == []
    no_db = tidings(pipeline, "dlq", "replay", "--yes", TIDINGS_DATABASE_URL="")
    assert no_db.returncode == 2 and "TIDINGS_DATABASE_URL" in no_db.stderr
