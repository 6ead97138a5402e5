"""Which offsets may be stored: per partition, everything below the first unfinished message.

Messages finish out of order (concurrent batches); the stored offset only ever advances over a
contiguous run of finished ones, so a crash re-delivers unfinished work instead of losing it."""
from __future__ import annotations

from collections import deque

TopicPartitionKey = tuple[str, int]


class PartitionProgress:
    __slots__ = ("pending", "finished", "next_offset")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self.finished: set[int] = set()
        self.next_offset: int | None = None  # the offset to commit: first not yet finished

    def add(self, offset: int) -> None:
        self.pending.append(offset)

    def finish(self, offset: int) -> bool:
        """Mark one offset finished; True when next_offset advanced."""
        self.finished.add(offset)
        advanced = False
        while self.pending and self.pending[0] in self.finished:
            done = self.pending.popleft()
            self.finished.discard(done)
            self.next_offset = done + 1
            advanced = True
        return advanced


class OffsetTracker:
    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, PartitionProgress] = {}
        self._in_flight = 0  # pending offsets over all partitions, asked on every turn of the fetch loop

    def add(self, topic: str, partition: int, offset: int) -> PartitionProgress:
        """Track a fetched offset; keep the returned progress to finish it with."""
        progress = self._partitions.get((topic, partition))
        if progress is None:
            progress = self._partitions[(topic, partition)] = PartitionProgress()
        progress.add(offset)
        self._in_flight += 1
        return progress

    def finish(self, key: TopicPartitionKey, progress: PartitionProgress, offset: int) -> int | None:
        """Returns the new offset to store for that partition, or None if it did not move.
        Work fetched before a revoke finishes against a forgotten progress and moves nothing."""
        if self._partitions.get(key) is not progress:
            return None
        before = len(progress.pending)
        if not progress.finish(offset):
            return None
        self._in_flight -= before - len(progress.pending)
        return progress.next_offset

    def in_flight(self) -> int:
        return self._in_flight

    def in_flight_by_partition(self) -> dict[TopicPartitionKey, int]:
        return {k: len(p.pending) for k, p in self._partitions.items() if p.pending}

    def positions(self, keys=None) -> dict[TopicPartitionKey, int]:
        """Offsets to commit for the given (or all) partitions that made progress."""
        keys = self._partitions.keys() if keys is None else keys
        return {k: self._partitions[k].next_offset for k in keys
                if k in self._partitions and self._partitions[k].next_offset is not None}

    def forget(self, keys) -> None:
        """Drop revoked partitions: late completions for them are ignored (the new owner redoes them)."""
        for key in keys:
            progress = self._partitions.pop(key, None)
            if progress is not None:
                self._in_flight -= len(progress.pending)
