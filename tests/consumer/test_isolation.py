"""The consume loop on the real broker when handlers fail: one message's exception never stops
the stage (it is retried, then quarantined, and the partition moves on), an outage of a
dependency holds the stage until it is over, and an offset the client skipped is fetched again."""
from __future__ import annotations

import asyncio
import time

import psycopg
from confluent_kafka import Consumer, TopicPartition

from consumer.failure_headers import DUE_AT
from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.stream import StreamConsumer
from consumer.topics import Topics


def publish(settings, topic: str, values: list[str], headers=None) -> None:
    publisher = Publisher.from_settings(settings)
    for value in values:
        publisher.publish_sync(topic, value.encode(), key=b"same-key", partition=0, headers=headers)
    assert publisher.close() == 0


def committed(settings, group: str, topic: str) -> int:
    consumer = Consumer({**settings.kafka_common(), "group.id": group})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def run_until(stream: StreamConsumer, done, timeout: float = 60, during=None, poll_s: float = 0.05) -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(stream.run(stop))
        deadline = time.monotonic() + timeout
        while not done():
            assert not runner.done(), f"the stream stopped: {runner.exception()!r}"
            assert time.monotonic() < deadline, "timed out"
            if during is not None:
                during()
            await asyncio.sleep(poll_s)
        stop.set()
        await runner

    asyncio.run(scenario())


def test_a_message_that_keeps_raising_is_quarantined_and_the_partition_moves_on(settings):
    topic = Topics(settings.topic_prefix).channel("webhook", "normal")
    publish(settings, topic, ["good-1", "bad", "good-2", "good-3"])
    handled, attempts, quarantined = [], [], []

    async def handle(messages):
        for m in messages:
            if m.value() == b"bad":
                attempts.append(time.monotonic())
                raise ValueError("port could not be cast to integer value as '99999'")
            handled.append(m.value().decode())

    async def quarantine(message, exc):
        quarantined.append((message.value(), type(exc).__name__, str(exc)))

    group = f"{settings.group_prefix}.isolation"
    stream = StreamConsumer(settings.replace(internal_error_attempts=3), ServiceMetrics("test"), group, [topic],
                            handle, batch_size=1, quarantine=quarantine)
    run_until(stream, lambda: quarantined and {"good-1", "good-2", "good-3"} <= set(handled))
    assert quarantined == [(b"bad", "ValueError", "port could not be cast to integer value as '99999'")]
    assert len(attempts) == 3  # tried three times, with backoff between
    assert attempts[1] - attempts[0] >= 0.4 and attempts[2] - attempts[1] >= 0.9
    assert committed(settings, group, topic) == 4  # past the quarantined message


def test_a_failing_batch_is_split_so_only_the_bad_message_is_quarantined(settings):
    topic = Topics(settings.topic_prefix).channel("webhook", "normal")
    values = [f"m{i}" for i in range(20)]
    values[7] = "bad"
    publish(settings, topic, values)
    finished, quarantined = set(), []

    async def handle(messages):
        if any(m.value() == b"bad" for m in messages):
            raise KeyError("missing field")
        finished.update(m.value().decode() for m in messages)

    async def quarantine(message, exc):
        quarantined.append(message.value())

    group = f"{settings.group_prefix}.split"
    stream = StreamConsumer(settings, ServiceMetrics("test"), group, [topic], handle, batch_size=20,
                            quarantine=quarantine)
    run_until(stream, lambda: quarantined and len(finished) == 19)
    assert quarantined == [b"bad"] and finished == set(values) - {"bad"}
    assert committed(settings, group, topic) == 20


def test_an_outage_holds_the_stage_and_it_resumes_when_the_dependency_is_back(settings):
    topic = Topics(settings.topic_prefix).channel("webhook", "normal")
    publish(settings, topic, [f"m{i}" for i in range(5)])
    handled, quarantined, seen_health = [], [], []
    outage = {"left": 4}

    async def handle(messages):
        if outage["left"] > 0:
            outage["left"] -= 1
            raise psycopg.OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        handled.extend(m.value().decode() for m in messages)

    async def quarantine(message, exc):
        quarantined.append(message.value())

    metrics = ServiceMetrics("test")
    stream = StreamConsumer(settings.replace(internal_error_attempts=2), metrics, f"{settings.group_prefix}.outage",
                            [topic], handle, batch_size=5, quarantine=quarantine)

    def watch():
        ok, detail = stream.health()
        if not ok and "unavailable" in detail:
            seen_health.append((detail["held"], metrics.dependency_up.labels("test", "postgres")._value.get()))

    run_until(stream, lambda: len(handled) == 5, during=watch)
    assert quarantined == []  # an outage is nobody's message's fault, however long it lasts
    assert seen_health and seen_health[0] == ("waiting for postgres", 0)
    assert stream.health()[1].get("unavailable") is None
    assert metrics.dependency_up.labels("test", "postgres")._value.get() == 1


def test_an_offset_the_client_skipped_is_fetched_again_not_stepped_over(settings):
    topic = Topics(settings.topic_prefix).channel("webhook", "normal")
    publish(settings, topic, [f"m{i}" for i in range(10)])
    handled: list[int] = []

    async def handle(messages):
        handled.extend(m.offset() for m in messages)

    metrics = ServiceMetrics("test")
    group = f"{settings.group_prefix}.gap"
    stream = StreamConsumer(settings, metrics, group, [topic], handle, batch_size=10)
    make = stream._make_consumer

    class Skipping:
        """The real consumer, except that offset 4 goes missing from the first fetch that has it."""

        def __init__(self, inner):
            self.inner, self.skipped = inner, False

        def consume(self, *args):
            messages = self.inner.consume(*args)
            if not self.skipped and any(m.offset() == 4 and m.error() is None for m in messages):
                self.skipped = True
                return [m for m in messages if m.error() is not None or m.offset() != 4]
            return messages

        def __getattr__(self, name):
            return getattr(self.inner, name)

    stream._make_consumer = lambda: Skipping(make())
    run_until(stream, lambda: len(handled) >= 10)
    assert sorted(handled) == list(range(10)) and len(handled) == 10
    assert metrics.offset_gaps.labels("test", topic)._value.get() == 1
    assert committed(settings, group, topic) == 10


def test_due_times_count_on_retry_tiers_only(settings):
    names = Topics(settings.topic_prefix)
    lane, tier = names.channel("webhook", "normal"), names.retry("webhook", "1s")
    far = [(DUE_AT, b"2099-01-01T00:00:00.000Z")]
    publish(settings, lane, ["main-lane"], headers=far)
    publish(settings, lane, ["garbage-due"], headers=[(DUE_AT, b"not a time"), ("tidings-attempt", b"x")])
    publish(settings, tier, ["retry-tier"], headers=far)
    publish(settings, lane, ["null-due"], headers=[(DUE_AT, None)])
    handled = []

    async def handle(messages):
        handled.extend(m.value().decode() for m in messages)

    stream = StreamConsumer(settings, ServiceMetrics("test"), f"{settings.group_prefix}.due", [lane, tier], handle,
                            timed_topics=[tier])
    waiting = []
    run_until(stream, lambda: {"main-lane", "garbage-due", "null-due"} <= set(handled) and waiting,
              during=lambda: waiting.extend(stream.waiting))
    assert "retry-tier" not in handled  # due in 2099: waits in memory, its partition paused
    assert waiting == [(tier, 0)]
