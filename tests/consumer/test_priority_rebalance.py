"""The consume loop on the real broker: while an URGENT message is being worked on, no LOW message
is handed to the service, also after a rebalance re-assigns the LOW partitions (librdkafka forgets
nothing and we re-apply our pauses); once URGENT is done, LOW flows."""
from __future__ import annotations

import asyncio
import threading
import time

from confluent_kafka import Consumer

from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.stream import StreamConsumer
from consumer.topics import Topics


def other_member(settings, group: str, topic: str, stop: threading.Event, assigned: list) -> None:
    """A second group member that subscribes to the LOW lane only, forcing a rebalance."""
    consumer = Consumer({**settings.kafka_common(), "group.id": group, "session.timeout.ms": settings.session_timeout_ms,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "partition.assignment.strategy": settings.assignment_strategy})
    consumer.subscribe([topic], on_assign=lambda c, parts: assigned.extend(parts))
    while not stop.is_set():
        consumer.poll(0.1)
    consumer.close()


def test_lower_lanes_stay_paused_across_a_rebalance_while_urgent_is_busy(settings):
    # Strict (no starvation guard), and one URGENT message in flight is enough to hold LOW back.
    # Eager assignment: every partition is revoked and assigned again, so every pause is re-applied
    # (cooperative-sticky would move both LOW partitions to the member subscribed to LOW alone).
    settings = settings.replace(priority_max_pause_s=0.0, priority_lag_messages=1, assignment_strategy="range",
                                shutdown_grace_s=0.5)
    names = Topics(settings.topic_prefix)
    lanes = names.all_channel("webhook")
    urgent_topic, low_topic = names.channel("webhook", "urgent"), names.channel("webhook", "low")
    publisher = Publisher.from_settings(settings)
    publisher.publish_sync(urgent_topic, b"urgent", key=b"k", partition=0)
    for i in range(40):
        publisher.publish_sync(low_topic, f"low-{i}".encode(), key=b"k", partition=i % 2)
    assert publisher.close() == 0

    group = f"{settings.group_prefix}.rebalance"
    seen: list[tuple[str, bool]] = []  # (value, was URGENT released when it was handed over)
    release = threading.Event()

    async def handle(messages) -> None:
        for m in messages:
            seen.append((m.value().decode(), release.is_set()))
        if any(m.topic() == urgent_topic for m in messages):
            while not release.is_set():
                await asyncio.sleep(0.05)

    # In flight 2: one URGENT message in flight is half the bound, so the URGENT lane counts as behind.
    stream = StreamConsumer(settings, ServiceMetrics("test"), group, lanes, handle, max_in_flight=2)
    member_stop, member_assigned = threading.Event(), []
    member = threading.Thread(target=other_member, args=(settings, group, low_topic, member_stop, member_assigned))

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(stream.run(stop))
        deadline = time.monotonic() + 60
        while not any(v == "urgent" for v, _ in seen):
            assert time.monotonic() < deadline, "the URGENT message never arrived"
            await asyncio.sleep(0.05)
        member.start()
        while not (member_assigned and sum(1 for t, _ in stream.assigned if t == low_topic) == 1):
            assert time.monotonic() < deadline + 60, "the rebalance never happened"
            await asyncio.sleep(0.05)
        rebalanced_at = time.monotonic()
        while time.monotonic() - rebalanced_at < 3:  # URGENT still busy: LOW must stay paused
            await asyncio.sleep(0.05)
        assert {k for k in stream.assigned if k[0] == low_topic} <= stream._paused
        release.set()
        while not any(v.startswith("low") for v, _ in seen):
            assert time.monotonic() < deadline + 120, "LOW never resumed after URGENT was done"
            await asyncio.sleep(0.05)
        stop.set()
        await runner

    try:
        asyncio.run(scenario())
    finally:
        member_stop.set()
        member.join(timeout=10)
    low = [(v, released) for v, released in seen if v.startswith("low")]
    assert low and all(released for _, released in low), "a LOW message was handed over while URGENT was busy"
