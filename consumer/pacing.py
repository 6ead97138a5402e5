"""The one pacer of Tidings: calls spaced `1 / per_second` apart per key. The Slack channel paces
sends per Slack channel with it (event loop), the dead-letter replay paces republishes (a thread).

A slot is reserved before any wait, so concurrent callers never take the same slot and no lock is
needed on one event loop; callers of different keys never wait for each other."""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Hashable

from consumer.outcomes import Deferred

MonotonicClock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
BlockingSleep = Callable[[float], None]

# Past slots are forgotten once this many keys are remembered, so memory stays bounded.
_PRUNE_AT = 10_000


class Pacer:
    """Hands out slots per key in call order; per_second None or <= 0 turns pacing off.

    `sleep` is how the owner waits: called by wait() in a thread (time.sleep by default), awaited
    by wait_async() on an event loop (asyncio.sleep by default)."""

    def __init__(self, per_second: float | None, clock: MonotonicClock = time.monotonic,
                 sleep: Sleep | BlockingSleep | None = None):
        self.interval = 1.0 / per_second if per_second and per_second > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self.next_slot: dict[Hashable, float] = {}

    def reserve(self, key: Hashable = None) -> float:
        """Take the key's next slot; returns how long to wait for it (0 when it is free now)."""
        if not self.interval:
            return 0.0
        now = self.clock()
        if len(self.next_slot) >= _PRUNE_AT:
            self.next_slot = {k: t for k, t in self.next_slot.items() if t > now}
        slot = max(now, self.next_slot.get(key, now))
        self.next_slot[key] = slot + self.interval
        return slot - now

    def backlog(self, key: Hashable = None) -> float:
        """How long a call for this key would wait now, without reserving anything."""
        if not self.interval:
            return 0.0
        return max(0.0, self.next_slot.get(key, 0.0) - self.clock())

    def wait(self, key: Hashable = None) -> float:
        """Block this thread until the key's next slot; returns the time waited."""
        delay = self.reserve(key)
        if delay > 0:
            (self.sleep or time.sleep)(delay)
        return delay

    async def wait_async(self, key: Hashable = None) -> float:
        """Wait on the event loop for the key's next slot; returns the time waited."""
        delay = self.reserve(key)
        if delay > 0:
            await (self.sleep or asyncio.sleep)(delay)
        return delay

    async def turn(self, key: Hashable, max_wait_s: float, reason: str) -> Deferred | None:
        """Wait for the key's next slot, or, when the calls queued for the key would keep this one
        waiting longer than `max_wait_s`, a Deferred instead: the message waits on a retry tier, so
        one busy key does not hold the worker's send slots."""
        if (backlog := self.backlog(key)) > max_wait_s:
            return Deferred(reason, backlog)
        await self.wait_async(key)
        return None
