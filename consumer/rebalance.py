"""The rebalance half of the consume loop (consumer.stream.StreamConsumer): what happens when
partitions are assigned, revoked or lost. The callbacks run on the fetch thread, inside consume()
or close(), and wait for the event loop to apply each change, so a revoked partition's in-flight
work is finished and committed before it is handed over (cooperative-sticky moves only the
partitions that change hands), and a newly assigned one starts from its committed offset."""
from __future__ import annotations

import asyncio
import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumer.isolation import describe

log = logging.getLogger(__name__)

Key = tuple[str, int]
COMMITTED_TIMEOUT_S = 10.0


class Rebalancing:
    """Mixed into StreamConsumer; uses its tracker, positions, lanes and assignment state."""

    def _in_loop(self, coroutine, timeout: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        # librdkafka keeps a partition's pause flag across a revoke and re-assign, so a new
        # assignment starts unpaused and takes our own pause decisions before this callback returns
        # (left to the next loop turn, the consume() call running this callback may return LOW first).
        if partitions:
            consumer.resume(partitions)
        starts = self._committed(consumer, partitions)
        if changes := self._in_loop(self._assigned(partitions, starts), timeout=120):
            self._apply_pauses(*changes)
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _committed(self, consumer: Consumer, partitions: list[TopicPartition]) -> dict[Key, int | None]:
        """Where each newly assigned partition starts (its committed offset), so that a gap right
        after it is noticed too; unknown when nothing is committed or the broker does not answer."""
        if not partitions:
            return {}
        try:
            committed = consumer.committed(partitions, timeout=COMMITTED_TIMEOUT_S)
        except KafkaException as exc:
            log.warning("committed offsets unknown (%s): gaps are checked from the first fetched offset", exc)
            return {}
        return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None for tp in committed}

    async def _assigned(self, partitions: list[TopicPartition],
                        starts: dict[Key, int | None]) -> tuple[set[Key], set[Key]] | None:
        """Takes the new partitions in; returns the pauses and resumes to apply right away."""
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned |= keys
        self._paused -= keys
        self.lanes.assigned(keys)
        for key in keys:
            self.positions.expect(key, starts.get(key))
        return self._plan_pauses()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        grace = self.settings.shutdown_grace_s
        try:
            positions = self._in_loop(self._hand_over(keys, grace), timeout=grace + 10)
        except Exception as exc:  # the loop is gone (shutting down): commit what is known
            log.warning("revoke: %s", describe(exc))
            positions = self.tracker.positions(keys)
        self._commit_positions(positions)
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()
        log.info("revoked %s", sorted(f"{t}[{p}]" for t, p in keys))

    async def _hand_over(self, keys: set[Key], grace: float) -> dict[Key, int]:
        """Finish the revoked partitions' in-flight work (up to `grace`), then give them up;
        returns the offsets to commit. Retries still in backoff have not started: not waited for."""
        for task in [t for t in self._backing_off if _touches(self._tasks.get(t, ()), keys)]:
            task.cancel()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(k in keys for k in self.tracker.in_flight_by_partition()):
            await asyncio.sleep(0.01)
        unfinished = sum(n for k, n in self.tracker.in_flight_by_partition().items() if k in keys)
        if unfinished:
            log.warning("%d messages of revoked partitions still in flight after %.0fs; the new owner redoes them",
                        unfinished, grace)
        positions = self.tracker.positions(keys)
        self._drop(keys)
        return positions

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: committing now could overwrite the new owner's progress.
        keys = {(tp.topic, tp.partition) for tp in partitions}
        try:
            self._in_loop(self._lost(keys), timeout=30)
        except Exception as exc:
            log.warning("lost: %s", describe(exc))
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    async def _lost(self, keys: set[Key]) -> None:
        self._drop(keys)

    def _drop(self, keys: set[Key]) -> None:
        self.tracker.forget(keys)
        self.positions.forget(keys)
        self.isolation.forget(keys)
        self.assigned -= keys
        self._paused -= keys
        self.lanes.revoked(keys)
        self._report_paused(keys)
        for topic, partition in keys:  # another member reports their lag now
            try:
                self.metrics.consumer_lag.remove(self.metrics.service, topic, str(partition))
            except KeyError:
                pass
        for key in keys:
            self.waiting.pop(key, None)
        self._in_flight.set(self.tracker.in_flight())


def _touches(messages, keys: set[Key]) -> bool:
    return any((m.topic(), m.partition()) in keys for m in messages)
