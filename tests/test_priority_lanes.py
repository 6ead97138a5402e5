"""Strict priority on the real broker: an URGENT notification published behind a LOW backlog for
the same channel reaches the receiver before the backlog has drained."""
from __future__ import annotations

import json
import time

from tests.pipeline import make_notifications, publish, wait_for_statuses

BACKLOG = 2000


def test_urgent_overtakes_a_low_backlog(pipeline, services, webhook_receiver):
    webhook_receiver.delay_s = 0.02  # about 200 deliveries/s with 4 connections: the backlog lasts
    router, channel, _ = services.start_pipeline(TIDINGS_WEBHOOK_CONCURRENCY="4", TIDINGS_PRIORITY_SEND_SLOTS="4")
    backlog = make_notifications(BACKLOG, webhook_receiver.url)
    for n in backlog:
        n["priority"] = "LOW"
    publish(pipeline, backlog)
    webhook_receiver.wait_for(50, timeout=120)  # the LOW lane is being delivered
    low_topic = f"{pipeline.topic_prefix}.channel.webhook.low"
    deadline, lag = time.monotonic() + 60, 0.0
    while lag == 0 and time.monotonic() < deadline:  # librdkafka statistics come every 5 s
        lag = channel.metric("tidings_consumer_lag", topic=low_topic)
        time.sleep(0.2)
    assert 0 < lag <= BACKLOG

    urgent = make_notifications(1, webhook_receiver.url)[0]
    urgent["priority"] = "URGENT"
    publish(pipeline, [urgent])
    received = webhook_receiver.wait_for(BACKLOG + 1, timeout=300)
    assert set(received) == {n["id"] for n in backlog} | {urgent["id"]}

    order = [notification_id for _, notification_id in sorted(webhook_receiver.arrivals)]
    low_after_urgent = len(order) - 1 - order.index(urgent["id"])
    assert low_after_urgent > 0, "the URGENT notification waited for the whole LOW backlog"
    print(f"URGENT arrived with {low_after_urgent} of {BACKLOG} LOW notifications still to come")
    wait_for_statuses(pipeline.database_url, [urgent["id"]])
    deadline = time.monotonic() + 60  # a message is completed once its DeliveryEvent is acknowledged,
    while channel.metric("tidings_messages_completed_total") < BACKLOG + 1 and time.monotonic() < deadline:
        time.sleep(0.2)  # a moment after the receiver got it
    assert channel.metric("tidings_messages_completed_total") >= BACKLOG + 1


def test_lower_lanes_are_paused_while_a_higher_lane_is_busy_and_resumed_after(pipeline, services, webhook_receiver):
    """A slow URGENT stream keeps the URGENT lane busy: the channel worker reports the LOW lane's
    partitions paused; once URGENT is drained they are resumed and the LOW ones are delivered."""
    webhook_receiver.delay_s = 0.5
    # 40 URGENT behind 2 connections is a backlog: more than the worker may fetch (10 in flight), so
    # the URGENT lane does not reach its end for a while.
    _, channel, _ = services.start_pipeline(TIDINGS_WEBHOOK_CONCURRENCY="2", TIDINGS_PRIORITY_SEND_SLOTS="2",
                                            TIDINGS_PRIORITY_LAG_MESSAGES="5", TIDINGS_MAX_IN_FLIGHT="10",
                                            TIDINGS_BATCH_SIZE="10")
    urgent = make_notifications(40, webhook_receiver.url)
    for n in urgent:
        n["priority"] = "URGENT"
    low = make_notifications(20, webhook_receiver.url)
    for n in low:
        n["priority"] = "LOW"
    publish(pipeline, urgent + low)
    low_topic = f"{pipeline.topic_prefix}.channel.webhook.low"
    deadline, paused = time.monotonic() + 120, 0.0
    while paused == 0 and time.monotonic() < deadline:
        paused = channel.metric("tidings_paused_partitions", topic=low_topic)
        time.sleep(0.05)
    assert paused == pipeline.partitions
    received = webhook_receiver.wait_for(60, timeout=300)
    assert set(received) >= {n["id"] for n in low}
    assert channel.metric("tidings_paused_partitions", topic=low_topic) == 0


def test_steady_mixed_traffic_below_capacity_pauses_no_lane_for_long(pipeline, services, webhook_receiver):
    """Four priorities mixed at a steady rate well below what the worker can do, with every
    delivery taking 0.3 s at the receiver (so each lane always has work in flight): no lane is
    behind, so none is paused for more than a moment, and all of them are delivered."""
    webhook_receiver.delay_s = 0.3
    wide = {"TIDINGS_WEBHOOK_CONCURRENCY": "400", "TIDINGS_WEBHOOK_PER_ENDPOINT_CONCURRENCY": "400",
            "TIDINGS_PRIORITY_SEND_SLOTS": "400", "TIDINGS_PRIORITY_LAG_MESSAGES": "10", "TIDINGS_RATE_LIMITS": ""}
    router = services.start("run", "router", wait=False, TIDINGS_RATE_LIMITS="", TIDINGS_PRIORITY_LAG_MESSAGES="10")
    channel = services.start("run", "channel", "webhook", wait=False, **wide)
    sink = services.start("run", "sink", wait=False)
    for process in (router, channel, sink):
        process.wait_assigned()
    notifications = make_notifications(2400, webhook_receiver.url)  # URGENT, HIGH, NORMAL, LOW in turn
    paused_since: dict[str, float] = {}
    longest: dict[str, float] = {}

    def watch() -> None:
        _, body = channel.get("/healthz")
        now = time.monotonic()
        paused = set(json.loads(body).get("lanes_paused_for_priority", []))
        for lane in paused:
            paused_since.setdefault(lane, now)
            longest[lane] = max(longest.get(lane, 0.0), now - paused_since[lane])
        for lane in set(paused_since) - paused:
            del paused_since[lane]

    for start in range(0, len(notifications), 40):  # about 200 a second for 12 s
        began = time.monotonic()
        publish(pipeline, notifications[start:start + 40])
        while time.monotonic() - began < 0.2:
            watch()
            time.sleep(0.05)
    received = webhook_receiver.wait_for(len(notifications), timeout=180)
    assert set(received) == {n["id"] for n in notifications}
    print(f"longest pause per lane under steady mixed traffic: {longest}")
    assert all(seconds < 3.0 for seconds in longest.values()), longest
