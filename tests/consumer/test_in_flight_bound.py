"""The consume loop at its in-flight bound, on the real broker: it never hands over more than the
bound, and a brief full spell stops the fetching without pausing any partition (a resume after a
pause of every partition reached librdkafka up to a second late: the stage sat idle). A spell that
lasts pauses everything, so the loop only keeps its group membership alive."""
from __future__ import annotations

import asyncio
import time

from confluent_kafka import Producer

from consumer import stream as stream_module
from consumer.metrics import ServiceMetrics
from consumer.settings import Settings
from consumer.stream import StreamConsumer
from consumer.topics import Topics
from tests.consumer.test_isolation import publish, run_until

BOUND = 4


def test_brief_full_spells_hand_over_no_more_than_the_bound_and_pause_nothing(settings):
    topic = Topics(settings.topic_prefix).channel("webhook", "normal")
    publish(settings, topic, [f"m-{i}" for i in range(60)])
    handled: list[str] = []
    in_flight: list[int] = []
    paused_while_full: list[int] = []

    async def handle(messages) -> None:
        in_flight.append(stream.tracker.in_flight())
        await asyncio.sleep(0.05)
        handled.extend(m.value().decode() for m in messages)

    stream = StreamConsumer(settings, ServiceMetrics("test"), f"{settings.group_prefix}.bound", [topic], handle,
                            batch_size=2, max_in_flight=BOUND)

    def until() -> bool:
        if stream.top_backpressure:
            paused_while_full.append(len(stream._paused))
        return len(handled) >= 60

    run_until(stream, until, poll_s=0.005)

    assert sorted(handled) == sorted(f"m-{i}" for i in range(60))
    assert max(in_flight) == BOUND, in_flight
    assert paused_while_full and set(paused_while_full) == {0}, paused_while_full


def test_a_lasting_full_spell_pauses_every_partition(settings, monkeypatch):
    monkeypatch.setattr(stream_module, "FULL_PAUSE_AFTER_S", 0.3)
    topic = Topics(settings.topic_prefix).channel("webhook", "normal")
    publish(settings, topic, [f"m-{i}" for i in range(10)])
    release = asyncio.Event()
    handled: list[str] = []
    paused_at_release: list[float] = []  # how long after the bound was reached

    async def handle(messages) -> None:
        await release.wait()
        handled.extend(m.value().decode() for m in messages)

    stream = StreamConsumer(settings, ServiceMetrics("test"), f"{settings.group_prefix}.full", [topic], handle,
                            batch_size=2, max_in_flight=BOUND)
    full_at: list[float] = []

    def until() -> bool:
        if stream.top_backpressure and not full_at:
            full_at.append(time.monotonic())
        if full_at and not release.is_set() and stream._paused == stream.assigned and stream.assigned:
            paused_at_release.append(time.monotonic() - full_at[0])
            release.set()
        return len(handled) >= 10

    run_until(stream, until, poll_s=0.005)
    assert paused_at_release, "every partition was never paused while the bound held"
    assert paused_at_release[0] >= 0.25, "paused at once, not after FULL_PAUSE_AFTER_S"
    assert sorted(handled) == sorted(f"m-{i}" for i in range(10))
    assert stream._paused == set(), "the partitions stayed paused after the work was done"


LOW_BACKLOG = 40_000


def test_an_urgent_message_published_behind_a_low_backlog_waits_for_a_small_prefetch_only(settings):
    """librdkafka hands every partition's messages over in one queue: an URGENT message comes out
    behind all the LOW ones prefetched before it. With librdkafka's default prefetch (capped at
    16 MB: 16,000 of these 1 KB messages) 27-29 LOW batches of 500 were started between its publish
    and its own; with the runtime's (about a batch, plus the fetch responses in flight) 12."""
    names = Topics(settings.topic_prefix)
    low, urgent = names.channel("webhook", "low"), names.channel("webhook", "urgent")
    producer = Producer(settings.kafka_common())
    for i in range(LOW_BACKLOG):  # over the topic's six partitions
        producer.produce(low, f"low-{i:05d}".encode().ljust(1000, b"."), key=f"k{i % 6}".encode())
        if i % 1000 == 999:
            producer.flush(10)
    assert producer.flush(30) == 0
    started: list[str] = []  # each batch's lane, in the order the handler was called
    handled: list[bytes] = []
    published_after: list[int] = []  # how many batches had started when the URGENT one was published

    async def handle(messages) -> None:
        started.append(messages[0].topic().rsplit(".", 1)[-1])
        time.sleep(0.01)  # a stage's synchronous share of each batch
        await asyncio.sleep(0.05)
        handled.extend(m.value() for m in messages)

    def publish_urgent_once_low_runs() -> None:
        if len(started) > 20 and not published_after:
            producer.produce(urgent, b"urgent", key=b"k")
            published_after.append(len(started))
        producer.poll(0)

    stream = StreamConsumer(settings, ServiceMetrics("test"), f"{settings.group_prefix}.lanes", [low, urgent], handle)
    run_until(stream, lambda: len(handled) == LOW_BACKLOG + 1, during=publish_urgent_once_low_runs, poll_s=0.005)
    assert producer.flush(10) == 0

    assert len(set(handled)) == LOW_BACKLOG + 1 and b"urgent" in handled
    behind = started.index("urgent") - published_after[0]
    assert behind <= 20, f"{behind} LOW batches were started between the URGENT message's publish and its own"


def test_the_prefetch_limits_and_fetch_wait_are_the_runtimes_unless_the_config_file_says_otherwise(monkeypatch):
    configs: list[dict] = []
    monkeypatch.setattr(stream_module, "Consumer", configs.append)
    ours = {"queued.max.messages.kbytes": 4096, "fetch.wait.max.ms": 500, "queued.min.messages": 5000,
            "fetch.queue.backoff.ms": 100}
    for kafka in ({}, ours):
        StreamConsumer(Settings(kafka=kafka), ServiceMetrics("test"), "g", ["t"], None)._make_consumer()
    assert [{k: c[k] for k in ours} for c in configs] == [
        {"queued.max.messages.kbytes": 16384, "fetch.wait.max.ms": stream_module.FETCH_WAIT_MS,
         "queued.min.messages": stream_module.PREFETCH_MESSAGES, "fetch.queue.backoff.ms": 20}, ours]
