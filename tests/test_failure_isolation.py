"""One bad event, answer or header never stops a stage: each case below publishes the bad message
and then a normal one behind it on the same key (same partition), through router, webhook worker
and sink as separate processes, and asserts that the normal one is delivered, the bad one is in
the dead-letter topic (or, when it is fine after all, delivered), and every process is still up."""
from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import psycopg

from consumer import failure_headers as h
from consumer.codec import Codec
from consumer.events import DELIVERY, NOTIFICATION, delivery_event, lane, utcnow
from consumer.publisher import Publisher
from consumer.topics import Topics
from tests.pipeline import make_notifications, read_topic, wait_for_statuses

KEY = b"one-partition-for-all"


def publish_events(settings, events: list[tuple[dict, list]]) -> None:
    """(event, headers) pairs, all on one key, in order."""
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    for event, headers in events:
        publisher.publish_sync(names.events(lane(event["priority"])), codec.encode(NOTIFICATION, event), key=KEY,
                               headers=headers)
    assert publisher.close(timeout=30) == 0


def dead_letters(settings, count: int, timeout: float = 60) -> dict[str, list[dict]]:
    """notification id -> the tidings-* headers of each of its dead letters, once `count` are there."""
    deadline = time.monotonic() + timeout
    while True:
        letters = [(m, h.read(m)) for m in read_topic(settings, Topics(settings.topic_prefix).dlq, idle_s=1.0)]
        if len(letters) >= count or time.monotonic() > deadline:
            break
    by_id: dict[str, list[dict]] = {}
    for _, headers in letters:
        by_id.setdefault(headers.get(h.NOTIFICATION_ID, ""), []).append(headers)
    return by_id


def assert_all_running(*processes) -> None:
    for process in processes:
        assert process.process.poll() is None, f"{process.args} exited:\n{process.log()}"


def test_bad_events_go_to_the_dlq_once_and_the_events_behind_them_are_delivered(pipeline, services,
                                                                                webhook_receiver):
    router, worker, sink = services.start_pipeline()
    make = lambda: make_notifications(1, webhook_receiver.url)[0]  # noqa: E731
    nul_recipient, nul_key, huge, not_json, many_channels, unknown_channels = (make() for _ in range(6))
    nul_recipient["recipient"]["id"] = "user\x00-1"
    nul_key["idempotency_key"] = "key\x00"
    huge["data"] = json.dumps({"blob": "x" * 950_000})  # the fan-out would exceed the broker's message size
    not_json["data"] = "{not json"
    many_channels["channels"] = [f"channel-{i}" for i in range(2000)]
    unknown_channels["channels"] = ["webhook", "pager", "carrier-pigeon", "pager"]
    odd_headers, far_due, repeated = make(), make(), make()
    repeated["channels"] = ["webhook"] * 200
    bad = [nul_recipient, nul_key, huge, not_json, many_channels]
    good = [make() for _ in bad]
    events = [item for pair in zip(bad, good) for item in ((pair[0], []), (pair[1], []))]
    events += [(unknown_channels, []),
               (odd_headers, [(h.DUE_AT, b"garbage"), (h.ATTEMPT, b"not-a-number"), (h.ORIGINAL_PARTITION, b"x"),
                              (h.FIRST_FAILURE_AT, None)]),
               (far_due, [(h.DUE_AT, b"2099-01-01T00:00:00.000Z")]),  # only retry tiers honour due times
               (repeated, [])]
    publish_events(pipeline, events)

    # (unknown_channels has three deliveries: its webhook one is checked at the receiver below)
    delivered = [n["id"] for n in good] + [odd_headers["id"], far_due["id"], repeated["id"]]
    wait_for_statuses(pipeline.database_url, delivered, statuses=("sent",), timeout=120)
    webhook_receiver.wait_for(len(delivered) + 1, timeout=60)
    letters = dead_letters(pipeline, 6)
    expected = {nul_recipient["id"]: "invalid_event", nul_key["id"]: "invalid_event", huge["id"]: "too_large",
                not_json["id"]: "invalid_event", many_channels["id"]: "invalid_event",
                unknown_channels["id"]: "unknown_channel"}
    for notification_id, reason in expected.items():
        assert [l[h.REASON] for l in letters.get(notification_id, [])] == [reason], (notification_id, letters)
    assert "recipient.id" in letters[nul_recipient["id"]][0][h.ERROR_MESSAGE]
    assert "'pager'" in letters[unknown_channels["id"]][0][h.ERROR_MESSAGE]  # one dead letter names them all
    received = webhook_receiver.notification_ids()
    assert received[unknown_channels["id"]] == 1  # its known channel still goes out
    assert received[repeated["id"]] == 1  # ["webhook"] x 200 is one delivery, one request
    assert not set(expected) - {unknown_channels["id"]} & set(received)
    with psycopg.connect(pipeline.database_url) as conn:
        statuses = dict(conn.execute("SELECT notification_id::text, status FROM deliveries WHERE notification_id"
                                     " = ANY(%s::uuid[])", [[huge["id"], nul_recipient["id"]]]).fetchall())
    assert statuses == {huge["id"]: "dead_lettered", nul_recipient["id"]: "dead_lettered"}
    assert_all_running(router, worker, sink)


def _delivery_events(good_ids: list[str], **bad_fields) -> list[dict]:
    """A bad DeliveryEvent (queued, with `bad_fields`) followed by a good one."""
    events = []
    for notification_id in good_ids:
        message = {"delivery_id": str(uuid.uuid4()), "notification_id": notification_id, "channel": "webhook",
                   "priority": "NORMAL", "recipient_id": "u1", "source": "tests", "tenant": "acme",
                   "category": "test", "attempt": 1, "replay": 0}
        events.append(delivery_event(message, "sent", clock=utcnow, provider="http", status_code=200, **bad_fields))
    return events


def test_the_sink_stores_outside_text_safely_and_dead_letters_what_postgres_cannot_hold(pipeline, services):
    sink = services.start("run", "sink")
    codec, names = Codec.from_settings(pipeline), Topics(pipeline.topic_prefix)
    ids = [str(uuid.uuid4()) for _ in range(8)]
    nul_tenant, nul_answer, = _delivery_events(ids[0:1], tenant="ac\x00me") + _delivery_events(
        ids[1:2], error_message="bad request\x00\x00 from receiver")
    huge_cost, = _delivery_events(ids[2:3], cost=Decimal("1e15"), cost_currency="USD")
    nul_status, = _delivery_events(ids[3:4])
    nul_status["status"] = "se\x00nt"
    good = _delivery_events(ids[4:8])
    publisher = Publisher.from_settings(pipeline)
    for event in [nul_tenant, good[0], nul_answer, good[1], huge_cost, good[2], nul_status, good[3]]:
        publisher.publish_sync(names.deliveries, codec.encode(DELIVERY, event), key=KEY)
    assert publisher.close(timeout=30) == 0

    wait_for_statuses(pipeline.database_url, ids[0:2] + ids[4:8], statuses=("sent",), timeout=60)
    with psycopg.connect(pipeline.database_url) as conn:
        stored = dict(conn.execute("SELECT notification_id::text, coalesce(tenant, '') || '|' ||"
                                   " coalesce(error_message, '') FROM delivery_events"
                                   " WHERE notification_id = ANY(%s::uuid[])", [ids[0:4]]).fetchall())
    assert stored == {ids[0]: "ac\ufffdme|", ids[1]: "acme|bad request\ufffd\ufffd from receiver"}
    letters = [h.read(m) for m in read_topic(pipeline, names.dlq)]
    assert sorted((l[h.STAGE], l[h.REASON]) for l in letters) == [("sink", "invalid_event")] * 2
    assert sorted(l[h.ERROR_MESSAGE].split(":")[0] for l in letters) == ["cost", "status"]
    assert_all_running(sink)
