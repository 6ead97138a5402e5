"""Which offsets may be stored: per partition, everything below the first unfinished message.

Messages finish out of order (concurrent batches); the stored offset only ever advances over a
contiguous run of finished ones, so a crash re-delivers unfinished work instead of losing it.
A partition rewound to an earlier offset (a deferred retry) starts a new epoch: completions of
work fetched before the rewind no longer count for the offsets that will be fetched again."""
from __future__ import annotations

from collections import deque

TopicPartitionKey = tuple[str, int]


class PartitionProgress:
    __slots__ = ("pending", "epochs", "finished", "next_offset", "epoch")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self.epochs: dict[int, int] = {}  # pending offset -> epoch it was fetched in
        self.finished: set[int] = set()
        self.next_offset: int | None = None  # the offset to commit: first not yet finished
        self.epoch = 0

    def add(self, offset: int) -> int:
        self.pending.append(offset)
        self.epochs[offset] = self.epoch
        return self.epoch

    def finish(self, offset: int, epoch: int) -> bool:
        """Mark one offset finished; True when next_offset advanced."""
        if self.epochs.get(offset) != epoch:
            return False  # fetched before a rewind: it will be fetched and done again
        self.finished.add(offset)
        advanced = False
        while self.pending and self.pending[0] in self.finished:
            done = self.pending.popleft()
            self.finished.discard(done)
            del self.epochs[done]
            self.next_offset = done + 1
            advanced = True
        return advanced

    def rewind(self, offset: int) -> None:
        """Forget pending work at or after `offset`: it will be fetched again from there."""
        self.epoch += 1
        while self.pending and self.pending[-1] >= offset:
            dropped = self.pending.pop()
            self.epochs.pop(dropped, None)
            self.finished.discard(dropped)


class OffsetTracker:
    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, PartitionProgress] = {}

    def add(self, topic: str, partition: int, offset: int) -> tuple[PartitionProgress, int]:
        """Track a fetched offset; keep the returned (progress, epoch) to finish it with."""
        progress = self._partitions.setdefault((topic, partition), PartitionProgress())
        return progress, progress.add(offset)

    def finish(self, key: TopicPartitionKey, progress: PartitionProgress, epoch: int, offset: int) -> int | None:
        """Returns the new offset to store for that partition, or None if it did not move.
        Work fetched before a revoke finishes against a forgotten progress and moves nothing."""
        if self._partitions.get(key) is not progress:
            return None
        return progress.next_offset if progress.finish(offset, epoch) else None

    def rewind(self, key: TopicPartitionKey, offset: int) -> None:
        if key in self._partitions:
            self._partitions[key].rewind(offset)

    def in_flight(self) -> int:
        return sum(len(p.pending) for p in self._partitions.values())

    def positions(self, keys=None) -> dict[TopicPartitionKey, int]:
        """Offsets to commit for the given (or all) partitions that made progress."""
        keys = self._partitions.keys() if keys is None else keys
        return {k: self._partitions[k].next_offset for k in keys
                if k in self._partitions and self._partitions[k].next_offset is not None}

    def forget(self, keys) -> None:
        """Drop revoked partitions: late completions for them are ignored (the new owner redoes them)."""
        for key in keys:
            self._partitions.pop(key, None)
