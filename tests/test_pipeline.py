"""End to end on a real broker and a real Postgres: events -> router -> webhook channel ->
receiver, and delivery events -> sink -> Postgres."""
from __future__ import annotations

import time


from consumer import failure_headers
from consumer.topics import PRIORITIES, Topics
from tests.pipeline import (current_statuses, event_count, make_notifications, publish, publish_raw,
                            read_topic, wait_for_statuses)



def test_a_thousand_events_over_four_priorities_are_delivered_once_and_recorded(pipeline, services, webhook_receiver):
    services.start_pipeline()
    notifications = make_notifications(1000, webhook_receiver.url)
    publish(pipeline, notifications)

    received = webhook_receiver.wait_for(1000)
    assert set(received) == {n["id"] for n in notifications}
    statuses = wait_for_statuses(pipeline.database_url, received)
    assert set(statuses.values()) == {"sent"}

    names = Topics(pipeline.topic_prefix)
    for priority in PRIORITIES:  # each event went to the channel topic of its own priority
        assert len(read_topic(pipeline, names.channel("webhook", priority))) == 250
    body = next(b for b in webhook_receiver.bodies if b["notification_id"] == notifications[1]["id"])
    assert body["priority"] == "high" and body["text"] == "hello 1" and body["data"]["nested"] == {"list": [1, 2, 3]}


def test_sigterm_mid_stream_loses_nothing(pipeline, services, webhook_receiver):
    webhook_receiver.delay_s = 0.02  # with 5 connections: ~250 deliveries/s, so SIGTERM lands mid-stream
    router, channel, _ = services.start_pipeline(TIDINGS_WEBHOOK_CONCURRENCY="5", TIDINGS_MAX_IN_FLIGHT="50",
                                                 TIDINGS_BATCH_SIZE="25")
    notifications = make_notifications(1000, webhook_receiver.url)
    publish(pipeline, notifications)

    deadline = time.monotonic() + 60
    while len(webhook_receiver.notification_ids()) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    assert channel.terminate(timeout=10) == 0, channel.log()
    assert router.terminate(timeout=10) == 0, router.log()
    assert time.monotonic() - started < 20
    got_before_restart = len(webhook_receiver.notification_ids())
    assert got_before_restart < 1000, "the stream was not interrupted mid-way; the test proves nothing"

    services.start("run", "router")
    services.start("run", "channel", "webhook")
    received = webhook_receiver.wait_for(1000)
    assert set(received) == {n["id"] for n in notifications}
    wait_for_statuses(pipeline.database_url, received)
    duplicates = sum(count - 1 for count in received.values())
    # A clean stop drains in-flight work and commits it, so nothing is redelivered.
    assert duplicates == 0


def test_undecodable_bytes_do_not_stop_the_router(pipeline, services, webhook_receiver):
    router, _, _ = services.start_pipeline()
    names = Topics(pipeline.topic_prefix)
    publish_raw(pipeline, names.events("high"), b"not avro at all")
    publish_raw(pipeline, names.events("high"), b"\x00\x00\x00\x00\x02" + b"\x01" * 20)  # a DeliveryEvent id
    publish_raw(pipeline, names.events("urgent"), b"")
    no_channels = make_notifications(1, webhook_receiver.url)[0]
    no_channels["channels"] = []
    publish(pipeline, [no_channels])  # valid Avro, but nothing to deliver: dead-lettered, not dropped
    notifications = make_notifications(20, webhook_receiver.url)
    publish(pipeline, notifications)

    assert set(webhook_receiver.wait_for(20)) == {n["id"] for n in notifications}
    deadline = time.monotonic() + 30
    while router.metric("tidings_poison_messages_total") < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert router.metric("tidings_poison_messages_total", reason="undecodable") == 3
    assert router.metric("tidings_poison_messages_total", reason="invalid_event") == 1
    assert router.process.poll() is None
    assert "dead-lettering" in router.log()

    # ... and each is in the dead-letter topic with its reason and origin, bytes unchanged.
    dead = [m for m in read_topic(pipeline, names.dlq) if failure_headers.read(m)[failure_headers.REASON] == "undecodable"]
    assert sorted(m.value() for m in dead) == sorted([b"not avro at all", b"\x00\x00\x00\x00\x02" + b"\x01" * 20, b""])
    for m in dead:
        headers = failure_headers.read(m)
        assert headers[failure_headers.STAGE] == "router"
        assert headers[failure_headers.ORIGINAL_TOPIC] in (names.events("high"), names.events("urgent"))
        assert headers[failure_headers.ORIGINAL_OFFSET].isdigit() and headers[failure_headers.ERROR_MESSAGE]
        assert headers[failure_headers.CONSUMER_GROUP] == f"{pipeline.group_prefix}.router"


def test_sink_is_idempotent_when_the_deliveries_topic_is_replayed(pipeline, services, webhook_receiver):
    _, _, sink = services.start_pipeline()
    notifications = make_notifications(200, webhook_receiver.url)
    publish(pipeline, notifications)
    wait_for_statuses(pipeline.database_url, [n["id"] for n in notifications])
    deliveries_topic = Topics(pipeline.topic_prefix).deliveries
    total = len(read_topic(pipeline, deliveries_topic))
    deadline = time.monotonic() + 60
    while event_count(pipeline.database_url) < total and time.monotonic() < deadline:
        time.sleep(0.1)
    before = (event_count(pipeline.database_url), current_statuses(pipeline.database_url, [n["id"] for n in notifications]))
    assert before[0] == total == 400  # queued + sent per notification
    assert sink.terminate() == 0

    # A sink in a new group reads the whole topic again from offset 0.
    replay = services.start("run", "sink", TIDINGS_GROUP_PREFIX=pipeline.group_prefix + "-replay")
    deadline = time.monotonic() + 60
    while replay.metric("tidings_messages_completed_total") < total and time.monotonic() < deadline:
        time.sleep(0.1)
    assert replay.metric("tidings_messages_completed_total") == total
    after = (event_count(pipeline.database_url), current_statuses(pipeline.database_url, [n["id"] for n in notifications]))
    assert after == before
