"""Retry tiers and the dead-letter topic on the real broker (test tiers: 1s, 2s)."""
from __future__ import annotations

import time
from datetime import timedelta

import psycopg

from consumer import failure_headers as h
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, utcnow
from consumer.publisher import Publisher
from consumer.topics import Topics
from router.fanout import fan_out
from tests.pipeline import make_notifications, publish, read_topic, wait_for_statuses


def story(database_url: str, notification_id: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT status, attempt, retry_tier, error_class FROM delivery_events WHERE notification_id = %s"
            " ORDER BY occurred_at, attempt", [notification_id]).fetchall()


def arrival_times(receiver, notification_id: str) -> list[float]:
    return [t for t, n in receiver.arrivals if n == notification_id]


def test_fails_twice_then_succeeds_on_attempt_3_never_early(pipeline, services, webhook_receiver):
    webhook_receiver.respond = lambda body, seen: (503, {}) if seen < 2 else (200, {})
    services.start_pipeline()
    notifications = make_notifications(5, webhook_receiver.url)
    publish(pipeline, notifications)
    ids = [n["id"] for n in notifications]
    wait_for_statuses(pipeline.database_url, ids, timeout=60)

    for n in ids:
        times = arrival_times(webhook_receiver, n)
        assert len(times) == 3
        assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 2.0  # tier delays 1s, 2s
        assert [b["attempt"] for b in webhook_receiver.bodies if b["notification_id"] == n] == [1, 2, 3]
        assert story(pipeline.database_url, n) == [
            ("queued", 0, None, None), ("retry_scheduled", 1, "1s", "http_503"),
            ("retry_scheduled", 2, "2s", "http_503"), ("sent", 3, None, None)]


def test_retry_after_longer_than_the_tier_is_honoured(pipeline, services, webhook_receiver):
    webhook_receiver.respond = lambda body, seen: (429, {"Retry-After": "3"}) if seen == 0 else (200, {})
    services.start_pipeline()
    notification = make_notifications(1, webhook_receiver.url)[0]
    publish(pipeline, [notification])
    wait_for_statuses(pipeline.database_url, [notification["id"]], timeout=60)
    first, second = arrival_times(webhook_receiver, notification["id"])
    assert second - first >= 3.0


def test_permanent_failure_goes_to_the_dlq_without_retry(pipeline, services, webhook_receiver):
    webhook_receiver.status = 404
    services.start_pipeline()
    notification = make_notifications(1, webhook_receiver.url)[0]
    publish(pipeline, [notification])
    wait_for_statuses(pipeline.database_url, [notification["id"]], statuses=("dead_lettered",), timeout=60)
    assert len(arrival_times(webhook_receiver, notification["id"])) == 1
    (dead,) = read_topic(pipeline, Topics(pipeline.topic_prefix).dlq)
    headers = h.read(dead)
    assert headers[h.REASON] == "permanent" and headers[h.ERROR_CLASS] == "http_404"
    assert headers[h.STAGE] == "channel-webhook" and headers[h.ATTEMPT] == "1"
    assert headers[h.NOTIFICATION_ID] == notification["id"] and headers[h.CHANNEL] == "webhook"
    assert headers[h.ORIGINAL_TOPIC] == Topics(pipeline.topic_prefix).channel("webhook", "urgent")
    assert str(Codec.from_settings(pipeline).decode(CHANNEL_MESSAGE, dead.value())["notification_id"]) == notification["id"]


def test_exhausted_retries_are_dead_lettered_and_missing_addresses_suppressed(pipeline, services, webhook_receiver):
    webhook_receiver.status = 500
    services.start_pipeline()
    failing = make_notifications(1, webhook_receiver.url)[0]
    no_address = make_notifications(1, webhook_receiver.url)[0]
    no_address["recipient"]["webhook_url"] = None
    publish(pipeline, [failing, no_address])
    wait_for_statuses(pipeline.database_url, [failing["id"]], statuses=("dead_lettered",), timeout=60)
    wait_for_statuses(pipeline.database_url, [no_address["id"]], statuses=("suppressed",), timeout=60)
    assert len(arrival_times(webhook_receiver, failing["id"])) == 3
    reasons = {h.read(m)[h.NOTIFICATION_ID]: h.read(m)[h.REASON] for m in read_topic(pipeline, Topics(pipeline.topic_prefix).dlq)}
    assert reasons == {failing["id"]: "retries_exhausted"}  # a missing address is not a failure
    with psycopg.connect(pipeline.database_url) as conn:
        recorded = dict(conn.execute("SELECT notification_id::text, reason FROM deliveries").fetchall())
    assert recorded == {**reasons, no_address["id"]: "no_address"}  # the DeliveryEvents say why, too


def test_a_waiting_partition_does_not_delay_other_partitions_or_the_main_lanes(pipeline, services, webhook_receiver):
    services.start_pipeline()
    names, codec = Topics(pipeline.topic_prefix), Codec.from_settings(pipeline)
    waiting, due_now = make_notifications(2, webhook_receiver.url)
    now = utcnow()
    publisher = Publisher.from_settings(pipeline)

    def put_on_retry_tier(notification: dict, partition: int, due) -> None:
        (delivery,) = fan_out(notification)
        message = {**delivery.message, "attempt": 2}
        headers = h.FailureContext(names.channel("webhook", "urgent"), 0, 0, now).headers(
            attempt=1, error_class="http_503", error_message="", group="tests",
            more={h.DUE_AT: h.iso(due), h.RETRY_TIER: "2s"})
        publisher.publish_sync(names.retry("webhook", "2s"), codec.encode(CHANNEL_MESSAGE, message),
                               key=b"k", headers=headers, partition=partition)

    put_on_retry_tier(waiting, 0, now + timedelta(seconds=30))
    put_on_retry_tier(due_now, 1, now)
    assert publisher.close() == 0
    main_lane = make_notifications(20, webhook_receiver.url)
    publish(pipeline, main_lane)

    webhook_receiver.wait_for(21, timeout=25)  # the due retry and the main lanes, all well before 30 s
    received = webhook_receiver.notification_ids()
    assert due_now["id"] in received and all(n["id"] in received for n in main_lane)
    assert waiting["id"] not in received
    webhook_receiver.wait_for(22, timeout=40)
    (arrived,) = arrival_times(webhook_receiver, waiting["id"])
    assert arrived >= (now + timedelta(seconds=30)).timestamp()  # never early


def test_the_dead_letter_limit_holds_instead_of_flooding_the_dlq(pipeline, services, webhook_receiver):
    webhook_receiver.status = 401  # as with wrong credentials: everything fails permanently
    limit = {"TIDINGS_DEAD_LETTER_MAX_CONSECUTIVE": "5", "TIDINGS_DEAD_LETTER_COOLDOWN_S": "4",
             "TIDINGS_WEBHOOK_CONCURRENCY": "1", "TIDINGS_BATCH_SIZE": "1"}
    _, channel, _ = services.start_pipeline(**limit)
    notifications = make_notifications(30, webhook_receiver.url)
    publish(pipeline, notifications)

    deadline = time.monotonic() + 30
    while channel.get("/healthz")[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert channel.get("/healthz")[0] == 503
    assert channel.metric("tidings_dead_letter_limit_tripped") == 1
    time.sleep(1)
    dead = read_topic(pipeline, Topics(pipeline.topic_prefix).dlq, idle_s=1.0)
    assert len(dead) == 4  # the fifth in a row tripped the limit instead of being dead-lettered

    webhook_receiver.status = 200  # credentials fixed: after the cool-down everything else is delivered
    ids = [n["id"] for n in notifications]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with psycopg.connect(pipeline.database_url) as conn:
            counts = dict(conn.execute("SELECT status, count(*) FROM deliveries WHERE notification_id = ANY(%s::uuid[])"
                                       " GROUP BY status", [ids]).fetchall())
        if counts.get("sent") == 26:
            break
        time.sleep(0.25)
    assert counts == {"sent": 26, "dead_lettered": 4}
    assert len(read_topic(pipeline, Topics(pipeline.topic_prefix).dlq, idle_s=1.0)) == 4
    assert channel.get("/healthz")[0] == 200


def test_a_thousand_retries_none_lost_none_early(pipeline, services, webhook_receiver):
    """Many partitions waiting and resuming at once: every retry arrives, none before its due time.
    (Seeking a paused partition once lost a few dozen of 3,000 here; waiting messages now stay
    in memory.)"""
    webhook_receiver.respond = lambda body, seen: (503, {}) if seen == 0 else (200, {})
    services.start_pipeline()
    notifications = make_notifications(1000, webhook_receiver.url)
    publish(pipeline, notifications)
    received = webhook_receiver.wait_for(1000, timeout=60)
    deadline = time.monotonic() + 90
    while sum(1 for count in webhook_receiver.notification_ids().values() if count >= 2) < 1000:
        assert time.monotonic() < deadline, "some retries never arrived"
        time.sleep(0.2)
    dues = {h.read(m)[h.NOTIFICATION_ID]: h.parse_time(h.read(m)[h.DUE_AT]).timestamp()
            for m in read_topic(pipeline, Topics(pipeline.topic_prefix).retry("webhook", "1s"))}
    assert set(dues) == set(received)
    for notification_id, due in dues.items():
        first, second = arrival_times(webhook_receiver, notification_id)[:2]
        assert second >= due
