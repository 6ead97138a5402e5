"""Strict priority between a consumer's four lanes (URGENT > HIGH > NORMAL > LOW): which lane
partitions the consume loop pauses so that a lower lane waits while a higher one has work.

A lane has work while one of its partitions returned messages with no end-of-partition since (or
has not reported yet), or while messages from it are still in flight. High watermarks are not used:
Tansu reports wrong ones after batched produce; end-of-partition events are right. Pausing discards
prefetched messages and a resume takes up to a second before the first fetch, so a paused lane is
resumed only after every higher lane has been idle for `resume_after_s` (hysteresis). A resumed
lane keeps what it knew: one that was at its end resumes together with the lanes below it (if it
got messages while paused, they show up in the next fetch and the lanes below pause again), one
never fetched yet holds the lanes below until it reports its end. A lane paused
for `max_pause_s` runs for a sixth of that even if higher lanes stay busy, so none starves forever.
The top lane is never paused here. Topics that are not lanes (retry tiers, deliveries) are left alone."""
from __future__ import annotations

import time
from typing import Callable, Iterable

from consumer.topics import PRIORITIES

Key = tuple[str, int]


def lane_of(topic: str) -> int | None:
    """The rank of a lane topic (0 = urgent ... 3 = low), from its last name part; else None."""
    last = topic.rsplit(".", 1)[-1]
    return PRIORITIES.index(last) if last in PRIORITIES else None


def split_by_lane(messages: list) -> list[list]:
    """One batch per lane, most urgent first (other topics last), so an URGENT message fetched
    together with LOW ones is handled on its own instead of waiting for the LOW batch."""
    groups: dict[int, list] = {}
    for message in messages:
        rank = lane_of(message.topic())
        groups.setdefault(len(PRIORITIES) if rank is None else rank, []).append(message)
    return [groups[rank] for rank in sorted(groups)]


class PriorityLanes:
    def __init__(self, resume_after_s: float = 0.5, max_pause_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.resume_after_s = resume_after_s
        self.max_pause_s = max_pause_s
        self.clock = clock
        self.ranks: dict[Key, int] = {}           # assigned lane partitions
        self.unfinished: set[Key] = set()         # no end-of-partition since the last fetch or assign
        self.paused_at: dict[int, float] = {}     # lanes paused for priority, since when
        self.higher_busy_at: dict[int, float] = {}  # last time a lane above this one had work
        self.running_until: dict[int, float] = {}   # starvation guard: not paused again before this

    def assigned(self, keys: Iterable[Key]) -> None:
        for key in keys:
            rank = lane_of(key[0])
            if rank is not None:
                self.ranks[key] = rank
                self.unfinished.add(key)  # unknown until its first end-of-partition

    def revoked(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.ranks.pop(key, None)
            self.unfinished.discard(key)

    def fetched(self, key: Key) -> None:
        if key in self.ranks:
            self.unfinished.add(key)

    def reached_end(self, key: Key) -> None:
        self.unfinished.discard(key)

    def top(self) -> int | None:
        return min(self.ranks.values(), default=None)

    def partitions_of(self, rank: int) -> set[Key]:
        return {k for k, r in self.ranks.items() if r == rank}

    def busy_lanes(self, in_flight: dict[Key, int]) -> set[int]:
        busy = {self.ranks[k] for k in self.unfinished if k in self.ranks}
        return busy | {self.ranks[k] for k, n in in_flight.items() if n and k in self.ranks}

    def to_pause(self, in_flight: dict[Key, int]) -> set[Key]:
        """The lane partitions to keep paused now; call once per loop turn."""
        now = self.clock()
        busy = self.busy_lanes(in_flight)
        top = self.top()
        paused: set[Key] = set()
        for rank in sorted(set(self.ranks.values())):
            if rank == top:
                continue
            higher_busy = any(r < rank for r in busy)
            if higher_busy:
                self.higher_busy_at[rank] = now
            if rank in self.paused_at:
                idle_for = now - self.higher_busy_at.get(rank, now)
                starving = self.max_pause_s > 0 and now - self.paused_at[rank] >= self.max_pause_s
                if idle_for >= self.resume_after_s or starving:
                    del self.paused_at[rank]
                    if starving:
                        self.running_until[rank] = now + self.max_pause_s / 6
                    continue
            elif higher_busy and now >= self.running_until.get(rank, 0.0):
                self.paused_at[rank] = now
            if rank in self.paused_at:
                paused |= self.partitions_of(rank)
        return paused
