"""Send slots handed out highest priority first: a channel worker takes one around each provider
call, so an URGENT message fetched behind a thousand in-flight LOW ones waits for one free slot,
not for the whole queue inside the provider's own (first come, first served) limits."""
from __future__ import annotations

import asyncio
import heapq
import itertools

from consumer.topics import PRIORITIES


def rank_of(priority: str) -> int:
    """URGENT (or urgent) -> 0 ... LOW -> 3; anything else counts as NORMAL."""
    name = priority.lower()
    return PRIORITIES.index(name) if name in PRIORITIES else PRIORITIES.index("normal")


class PrioritySlots:
    def __init__(self, slots: int):
        self.slots = slots  # 0: no limit
        self.used = 0
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()

    def hold(self, priority: str) -> "_Held":
        """`async with slots.hold(priority):` around a send (a class, not a generator-based context
        manager: this runs once per delivery)."""
        return _Held(self, rank_of(priority))

    async def _take(self, rank: int) -> None:
        if self.used < self.slots and not self._waiting:
            self.used += 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._order), future))
        try:
            await future  # resolved by _give_back with the slot already counted as ours
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._give_back()  # handed a slot just as we were cancelled: pass it on
            raise

    def _give_back(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)  # the slot moves to the waiter; `used` is unchanged
                return
        self.used -= 1


class _Held:
    __slots__ = ("slots", "rank")

    def __init__(self, slots: PrioritySlots, rank: int):
        self.slots, self.rank = slots, rank

    async def __aenter__(self) -> None:
        if self.slots.slots > 0:
            await self.slots._take(self.rank)

    async def __aexit__(self, *exc) -> None:
        if self.slots.slots > 0:
            self.slots._give_back()
