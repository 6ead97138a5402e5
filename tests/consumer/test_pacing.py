"""The one pacer: slots per key, 1/per_second apart in call order, on an event loop (the Slack
channel) or a thread (the dead-letter replay), with the clock and the sleep injected."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from consumer.pacing import Pacer


@dataclass
class Time:
    """Monotonic time that moves only when a blocking sleep passes (or a test sets it); every
    sleep is recorded."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def blocking_sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        await asyncio.sleep(0)


def test_slots_per_key_in_call_order_and_other_keys_never_wait():
    time = Time()
    pacer = Pacer(1.0, time.clock)
    assert [pacer.reserve("C1") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.reserve("C2") == 0.0
    time.now = 1.5
    assert pacer.backlog("C1") == 1.5 and pacer.backlog("C9") == 0.0  # backlog reserves nothing
    assert pacer.reserve("C1") == 1.5  # slots 0, 1, 2 are taken: the next is at 3
    assert pacer.reserve("C2") == 0.0
    time.now = 10.0
    assert pacer.reserve("C1") == 0.0
    fast = Pacer(4.0, time.clock)
    assert [fast.reserve("C1") for _ in range(3)] == [0.0, 0.25, 0.5]


def test_no_rate_turns_pacing_off():
    time = Time()
    for off in (0, -1, None):
        pacer = Pacer(off, time.clock, time.blocking_sleep)
        assert [pacer.wait() for _ in range(3)] == [0.0, 0.0, 0.0] and pacer.backlog() == 0.0
    assert time.sleeps == []


def test_a_thread_is_blocked_evenly_between_calls():
    """The dead-letter replay: one key, 4 per second, the sleep advancing the clock."""
    time = Time()
    pacer = Pacer(4, time.clock, time.blocking_sleep)
    for _ in range(5):
        pacer.wait()
    assert time.sleeps == [0.25] * 4 and time.now == 1.0


def test_concurrent_waiters_on_one_loop_never_share_a_slot():
    time = Time()
    pacer = Pacer(2.0, time.clock, time.sleep)

    async def run():
        return await asyncio.gather(*(pacer.wait_async(key) for key in ("a", "a", "a", "b")))

    assert asyncio.run(run()) == [0.0, 0.5, 1.0, 0.0]
    assert sorted(time.sleeps) == [0.5, 1.0]


def test_memory_stays_bounded_by_forgetting_past_slots(monkeypatch):
    monkeypatch.setattr("consumer.pacing._PRUNE_AT", 3)
    time = Time()
    pacer = Pacer(1.0, time.clock)
    for key in "abc":
        pacer.reserve(key)
    time.now = 5.0
    pacer.reserve("d")
    assert set(pacer.next_slot) == {"d"}


def test_a_turn_waits_for_its_slot_or_defers_when_the_queue_is_too_long():
    import asyncio

    from consumer.outcomes import Deferred

    now, slept = [0.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(2.0, clock=lambda: now[0], sleep=sleep)

    async def turns():
        return [await pacer.turn("c", 0.6, "paced") for _ in range(3)]

    first, second, third = asyncio.run(turns())
    assert first is None and second is None and slept == [0.5]  # the second waited for its slot
    assert third == Deferred("paced", 1.0)  # two slots ahead: longer than 0.6 s, so not waited for
