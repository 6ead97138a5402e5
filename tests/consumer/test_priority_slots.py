"""Send slots go to the highest priority waiting, then in arrival order; cancelled waiters lose
no slot."""
from __future__ import annotations

import asyncio

from consumer.priority_slots import PrioritySlots, rank_of


def test_rank_of_accepts_avro_symbols_and_lane_names():
    assert [rank_of(p) for p in ("URGENT", "high", "NORMAL", "low", "weird")] == [0, 1, 2, 3, 2]


def test_a_freed_slot_goes_to_urgent_before_earlier_low_waiters():
    async def scenario() -> list[str]:
        slots = PrioritySlots(1)
        order: list[str] = []
        release = asyncio.Event()

        async def send(name: str, priority: str) -> None:
            async with slots.hold(priority):
                order.append(name)
                await release.wait()

        first = asyncio.create_task(send("low-0", "LOW"))
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(send(f"low-{i}", "LOW")) for i in range(1, 4)]
        await asyncio.sleep(0)
        waiters.append(asyncio.create_task(send("urgent", "URGENT")))
        waiters.append(asyncio.create_task(send("high", "HIGH")))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *waiters)
        assert slots.used == 0
        return order

    assert asyncio.run(scenario()) == ["low-0", "urgent", "high", "low-1", "low-2", "low-3"]


def test_a_cancelled_waiter_does_not_take_or_leak_a_slot():
    async def scenario() -> int:
        slots = PrioritySlots(1)
        gate = asyncio.Event()

        async def send(priority: str) -> None:
            async with slots.hold(priority):
                await gate.wait()

        holder = asyncio.create_task(send("LOW"))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(send("URGENT"))
        later = asyncio.create_task(send("LOW"))
        await asyncio.sleep(0)
        cancelled.cancel()
        gate.set()
        await asyncio.gather(holder, later)
        return slots.used

    assert asyncio.run(scenario()) == 0


def test_zero_slots_means_no_limit():
    async def scenario() -> int:
        slots = PrioritySlots(0)
        inside = 0
        async with slots.hold("LOW"):
            async with slots.hold("LOW"):
                inside = 2
        return inside

    assert asyncio.run(scenario()) == 2
