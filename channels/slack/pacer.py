"""Per-Slack-channel pacing for channels/slack/provider.py: sends to one Slack channel are spaced (Slack allows
about one message per second per channel), sends to other channels are never delayed by it."""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

MonotonicClock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Past slots are forgotten once this many channels are remembered, so memory stays bounded.
_PRUNE_AT = 10_000


class ChannelPacer:
    """Hands out send slots per channel, `1 / per_second` apart, in call order.

    A slot is reserved before the first await, so concurrent callers never take the same slot and
    no lock is needed on one event loop. per_second <= 0 turns pacing off."""

    def __init__(self, per_second: float, clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self.next_slot: dict[str, float] = {}

    def reserve(self, channel: str) -> float:
        """Take the channel's next slot; returns how long to wait for it (0 when it is free now)."""
        if not self.interval:
            return 0.0
        now = self.clock()
        if len(self.next_slot) >= _PRUNE_AT:
            self.next_slot = {c: t for c, t in self.next_slot.items() if t > now}
        slot = max(now, self.next_slot.get(channel, now))
        self.next_slot[channel] = slot + self.interval
        return slot - now

    def backlog(self, channel: str) -> float:
        """How long a send to this channel would wait now, without reserving anything."""
        if not self.interval:
            return 0.0
        return max(0.0, self.next_slot.get(channel, 0.0) - self.clock())

    async def wait(self, channel: str) -> float:
        """Wait for this channel's next slot; returns the time waited."""
        delay = self.reserve(channel)
        if delay > 0:
            await self.sleep(delay)
        return delay
