"""Which fetched offset each partition expects next, so the consume loop never steps over an
offset it never saw: a gap is re-fetched from its first missing offset, a repeat is dropped.

Kafka offsets of a non-transactional, uncompacted topic are contiguous, so a fetched offset past
the expected one means messages went missing between the broker and us (seen on the embedded
broker: 1 to 3 delivery events of 40,000 skipped, then committed past). A gap that is still there
after `max_refetches` re-fetches is real (transaction markers, compaction on a real Kafka topic)
and is accepted, loudly."""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

Key = tuple[str, int]


@dataclass(frozen=True)
class Gap:
    key: Key
    expected: int   # the first missing offset: fetch again from here
    fetched: int    # the offset that arrived instead


class FetchPositions:
    def __init__(self, max_refetches: int = 3):
        self.max_refetches = max_refetches
        self._next: dict[Key, int] = {}
        self._refetches: dict[tuple[Key, int], int] = {}

    def expect(self, key: Key, offset: int | None) -> None:
        """Start (or restart) a partition at `offset`; None: take the first fetched offset."""
        if offset is None or offset < 0:
            self._next.pop(key, None)
        else:
            self._next[key] = offset

    def forget(self, keys) -> None:
        for key in keys:
            self._next.pop(key, None)
        self._refetches = {k: n for k, n in self._refetches.items() if k[0] not in keys}

    def check(self, key: Key, offset: int) -> Gap | bool:
        """True: take the message. False: a repeat of one already taken, drop it. A Gap: drop
        it and everything after it from that partition, and fetch again from gap.expected."""
        expected = self._next.get(key)
        if expected is None or offset == expected:
            self._next[key] = offset + 1
            return True
        if offset < expected:
            return False
        tries = self._refetches.get((key, expected), 0)
        if tries >= self.max_refetches:
            log.error("%s[%d]: offsets %d-%d are still missing after %d re-fetches; accepting the gap "
                      "(transaction markers or compaction?)", key[0], key[1], expected, offset - 1, tries)
            self._refetches.pop((key, expected), None)
            self._next[key] = offset + 1
            return True
        self._refetches[(key, expected)] = tries + 1
        return Gap(key, expected, offset)
