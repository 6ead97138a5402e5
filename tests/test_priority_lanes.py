"""Strict priority on the real broker: an URGENT notification published behind a LOW backlog for
the same channel reaches the receiver before the backlog has drained."""
from __future__ import annotations

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
    _, channel, _ = services.start_pipeline(TIDINGS_WEBHOOK_CONCURRENCY="2", TIDINGS_PRIORITY_SEND_SLOTS="2",
                                            TIDINGS_PRIORITY_LAG_MESSAGES="10")  # 40 URGENT: a backlog
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
