"""Strict priority between a consumer's four lanes (URGENT > HIGH > NORMAL > LOW): which lane
partitions the consume loop pauses so that a lower lane waits while a higher one is behind.

A lane is behind while one of its partitions has returned `lag_messages` or more since its last
end-of-partition (or has not reported one since it was assigned): a backlog in Kafka. A consumer
that keeps up sees a few messages and then the end, so steady mixed traffic pauses nothing; a real
backlog in a higher lane does. A lane that has reached its end is not behind, however much of it is
still in flight: the lanes below are fetched while its last batches are worked on and queue behind
them in the stages (the router's grouped calls and the workers' send slots take the most urgent
first), so a stage is not left idle while a resumed lane's first batch makes its way through.
Counting a lane's messages in flight as a backlog starved LOW at half load (it waited 25-30 s).
The stream reports a partition's end when a fetched message is the last one below its fetch
response's high watermark (right on Tansu, unlike its ListOffsets), and at librdkafka's
end-of-partition event, which comes a fetch.wait.max.ms later.

Pausing discards prefetched messages and a resume takes 0.02 s to about a second before the first
fetch, so a paused lane resumes only after no higher lane has been behind for `resume_after_s` (hysteresis).
A lane that never reported its end holds the lanes below until it does. A lane paused for
`max_pause_s` runs for a sixth of that even if higher lanes stay behind, so none starves forever.
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
    def __init__(self, resume_after_s: float = 0.1, max_pause_s: float = 30.0, lag_messages: int = 100,
                 clock: Callable[[], float] = time.monotonic):
        self.resume_after_s = resume_after_s
        self.max_pause_s = max_pause_s
        self.lag_messages = max(1, lag_messages)
        self.clock = clock
        self.ranks: dict[Key, int] = {}           # assigned lane partitions
        self.since_end: dict[Key, int] = {}       # messages returned since the last end-of-partition
        self.paused_at: dict[int, float] = {}     # lanes paused for priority, since when
        self.higher_busy_at: dict[int, float] = {}  # last time a lane above this one had work
        self.running_until: dict[int, float] = {}   # starvation guard: not paused again before this

    def assigned(self, keys: Iterable[Key]) -> None:
        for key in keys:
            rank = lane_of(key[0])
            if rank is not None:
                self.ranks[key] = rank
                self.since_end[key] = self.lag_messages  # behind until its first end-of-partition

    def revoked(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.ranks.pop(key, None)
            self.since_end.pop(key, None)

    def fetched(self, key: Key) -> None:
        if key in self.ranks:
            self.since_end[key] += 1

    def reached_end(self, key: Key) -> None:
        if key in self.ranks:
            self.since_end[key] = 0

    def top(self) -> int | None:
        return min(self.ranks.values(), default=None)

    def partitions_of(self, rank: int) -> set[Key]:
        return {k for k, r in self.ranks.items() if r == rank}

    def busy_lanes(self) -> set[int]:
        """The lanes that are behind."""
        return {self.ranks[k] for k, n in self.since_end.items() if n >= self.lag_messages}

    def to_pause(self) -> set[Key]:
        """The lane partitions to keep paused now; call once per loop turn."""
        now = self.clock()
        busy = self.busy_lanes()
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
                # A higher lane behind right now holds it, also with no hysteresis (resume_after_s 0):
                # else it resumed every other turn and LOW was fetched beside an URGENT backlog.
                if (not higher_busy and idle_for >= self.resume_after_s) or starving:
                    del self.paused_at[rank]
                    if starving:
                        self.running_until[rank] = now + self.max_pause_s / 6
                    continue
            elif higher_busy and now >= self.running_until.get(rank, 0.0):
                self.paused_at[rank] = now
            if rank in self.paused_at:
                paused |= self.partitions_of(rank)
        return paused
