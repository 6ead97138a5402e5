"""The consume loop at its in-flight bound, on the real broker: it never hands over more than the
bound, and a brief full spell stops the fetching without pausing any partition (a resume after a
pause of every partition reached librdkafka up to a second late: the stage sat idle). A spell that
lasts pauses everything, so the loop only keeps its group membership alive."""
from __future__ import annotations

import asyncio
import time

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


def test_the_prefetch_cap_and_fetch_wait_are_the_runtimes_unless_the_config_file_says_otherwise(monkeypatch):
    configs: list[dict] = []
    monkeypatch.setattr(stream_module, "Consumer", configs.append)
    for kafka in ({}, {"queued.max.messages.kbytes": 4096, "fetch.wait.max.ms": 500}):
        StreamConsumer(Settings(kafka=kafka), ServiceMetrics("test"), "g", ["t"], None)._make_consumer()
    assert [c["queued.max.messages.kbytes"] for c in configs] == [16384, 4096]
    assert [c["fetch.wait.max.ms"] for c in configs] == [stream_module.FETCH_WAIT_MS, 500]
