"""The tracking sink records the dead-letter topic in Postgres (tracking/dead_letters.py), once per
message however often it is read; `tidings dlq list` and `show` answer from there, not from the
topic; and the list's queries are answered by indexes."""
from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import psycopg
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from consumer import failure_headers as fh
from consumer.events import utcnow
from consumer.publisher import Publisher
from consumer.topics import Topics
from tests.cli.run import tidings
from tests.cli.test_dlq import DeadLetters, channel_message, sink_records_dead_letters
from tracking import dead_letter_fetch
from tracking.dead_letters import DeadLetterFilter, notification_query, summary_queries

ROW = ("dlq_partition, dlq_offset, stage, reason, error_class, error_message, channel, notification_id, delivery_id,"
       " original_topic, original_partition, original_offset, attempt, dead_lettered_at, payload_kind, tenant, replay,"
       " value_bytes")


def recorded(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT {ROW} FROM dead_letters ORDER BY dlq_partition, dlq_offset").fetchall()


def wait_for(check, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} not met in {timeout}s")


def test_the_sink_records_each_dead_letter_once_however_often_it_reads_the_topic(pipeline, services):
    sink = services.start("run", "sink")
    dead = DeadLetters(pipeline)
    message = dead.channel(channel_message("sms", replay=2), error_class="TwilioError", reason="permanent")
    event = dead.unknown_channel()
    dead.publisher.close(timeout=30)
    # What any producer may put on the topic: no value, broken numbers and times, NUL in a header.
    odd = Publisher.from_settings(pipeline)
    odd.publish_sync(Topics(pipeline.topic_prefix).dlq, None, key=b"k", headers=[
        (fh.STAGE, b"router"), (fh.REASON, b"too_large"), (fh.ERROR_MESSAGE, b"bad\x00byte " + b"x" * 5000),
        (fh.ORIGINAL_OFFSET, b"not a number"), (fh.DEAD_LETTERED_AT, b"yesterday"), (fh.VALUE_DROPPED, b"2000000 bytes")])
    assert odd.close(timeout=30) == 0

    rows = wait_for(lambda: len(found := recorded(pipeline.database_url)) == 3 and found, what="3 recorded")
    by_kind = {row[14]: row for row in rows}
    sms = by_kind["channel_message"]
    assert sms[2:13] == ("channel-sms", "permanent", "TwilioError", "TwilioError happened", "sms",
                         message["notification_id"], message["delivery_id"], Topics(pipeline.topic_prefix).channel(
                             "sms", "high"), 1, 101, 4)
    assert (sms[15], sms[16]) == ("acme", 2) and sms[17] > 0 and abs(sms[13] - utcnow()) < timedelta(minutes=5)
    notification = by_kind["notification"]
    assert (notification[6], notification[7], notification[9], notification[15]) == (
        None, str(event["id"]), Topics(pipeline.topic_prefix).events("high"), event["tenant"])
    raw = by_kind["raw"]
    assert (raw[3], raw[5][:8], len(raw[5]), raw[11], raw[17]) == ("too_large", "bad\ufffdbyte", 2000, None, None)

    # Read again from the start by a second sink (another group): nothing is recorded twice.
    again = services.start("run", "sink", TIDINGS_GROUP_PREFIX=f"again-{uuid.uuid4().hex[:6]}")
    dlq = Topics(pipeline.topic_prefix).dlq
    wait_for(lambda: again.metric("tidings_messages_completed_total", topic=dlq) >= 3, what="the second sink read 3")
    assert recorded(pipeline.database_url) == rows
    assert sink.metric("tidings_messages_completed_total", topic=dlq) == 3


def test_list_and_show_answer_from_postgres_not_from_the_topic(pipeline):
    dead = DeadLetters(pipeline)
    message = dead.channel(channel_message("webhook"))
    dead.channel(channel_message("email"), error_class="SmtpReply")
    dead.flush()  # recorded as the sink does
    before = json.loads(tidings(pipeline, "dlq", "list", "--json").stdout)
    assert (before["total"], before["matching"]) == (2, 2)

    # With no broker at all the list is the same: it never reads the topic.
    unreachable = tidings(pipeline, "dlq", "list", "--json", TIDINGS_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert unreachable.returncode == 0, unreachable.stderr
    assert json.loads(unreachable.stdout) == before

    # The topic gone (as after retention): list unchanged, show gives what was recorded.
    dlq = Topics(pipeline.topic_prefix).dlq
    admin = AdminClient(pipeline.kafka_common())
    admin.delete_topics([dlq])[dlq].result(30)
    assert json.loads(tidings(pipeline, "dlq", "list", "--json", "--channel", "webhook").stdout)["matching"] == 1
    shown = tidings(pipeline, "dlq", "show", message["notification_id"], "--json", "--idle", "1")
    assert shown.returncode == 0, shown.stderr
    (item,) = json.loads(shown.stdout)
    assert item["payload"]["kind"] == "unavailable" and item["payload"]["recorded_kind"] == "channel_message"
    assert item["headers"][fh.DELIVERY_ID] == message["delivery_id"] and item["headers"][fh.STAGE] == "channel-webhook"


def test_show_and_replay_read_back_only_around_the_offsets_they_need(pipeline, monkeypatch):
    dlq = Topics(pipeline.topic_prefix).dlq
    publisher = Publisher.from_settings(pipeline)
    for i in range(5000):
        publisher.publish_sync(dlq, f"letter {i}".encode(), key=b"k", partition=0)
    assert publisher.close(timeout=60) == 0
    returned = []

    class CountingConsumer(Consumer):
        def consume(self, *args, **kwargs):
            messages = super().consume(*args, **kwargs)
            returned.extend(m for m in messages if m.error() is None)
            return messages
    monkeypatch.setattr(dead_letter_fetch, "Consumer", CountingConsumer)

    found = dead_letter_fetch.fetch_dead_letters(pipeline, dlq, [(0, 10), (0, 4990), (0, 99999), (1, 3)])
    assert {position: letter.value for position, letter in found.items()} == {
        (0, 10): b"letter 10", (0, 4990): b"letter 4990"}  # the others are not on the topic
    assert len(returned) < 2500, f"read {len(returned)} of 5000 messages for 2"


def test_a_dead_letter_recorded_twice_is_one_row(pipeline):
    dead = DeadLetters(pipeline)
    dead.channel(channel_message("webhook"))
    dead.flush()
    assert sink_records_dead_letters(pipeline) == 1  # the same message handled again (a redelivered batch)
    assert len(recorded(pipeline.database_url)) == 1


def test_the_lists_and_shows_queries_are_answered_by_indexes(pipeline):
    """On 100,000 recorded dead letters (1M in the measurements of the commit that added this):
    the lookups `dlq show`, a filtered `dlq list` and a tenant's GET /v1/dlq make read no table
    from end to end."""
    topic = "tidings.dlq"
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO dead_letters (dlq_topic, dlq_partition, dlq_offset, stage, reason, error_class, channel,
                notification_id, original_topic, dead_lettered_at, payload_kind, tenant)
            SELECT %s, i %% 4, i / 4, 'channel-webhook', 'retries_exhausted',
                   (ARRAY['http_404', 'http_500', 'Timeout', 'SmtpReply'])[1 + i %% 4],
                   (ARRAY['webhook', 'email', 'sms', 'slack'])[1 + (i / 4) %% 4], md5(i::text),
                   'tidings.channel.webhook.high', now() - i * interval '10 seconds', 'channel_message',
                   'tenant-' || (i %% 100)
            FROM generate_series(1, 100000) AS i""", [topic])
        conn.execute("ANALYZE dead_letters")
        now = utcnow()
        plans = {"show": notification_query(topic, "c4ca4238a0b923820dcc509a6f75849b"),
                 "list --since 1h": summary_queries(topic, DeadLetterFilter(since=now - timedelta(hours=1)))["groups"],
                 "list --channel sms --since 1d": summary_queries(
                     topic, DeadLetterFilter(channel="sms", since=now - timedelta(days=1)))["groups"],
                 "list --error timeout --since 1h": summary_queries(
                     topic, DeadLetterFilter(error="timeout", since=now - timedelta(hours=1)))["groups"],
                 "a tenant's total": summary_queries(topic, DeadLetterFilter(tenants=frozenset({"tenant-7"})))["total"],
                 "a tenant's groups": summary_queries(topic, DeadLetterFilter(tenants=frozenset({"tenant-7"})))["groups"]}
        for name, (sql, params) in plans.items():
            plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, params))
            assert "Seq Scan" not in plan and "Index" in plan, f"{name}:\n{plan}"
