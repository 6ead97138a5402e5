"""The consume -> process -> commit loop every service runs.

Fetches batches, hands each to the service's `handle(messages)` as its own task (bounded by
max_in_flight messages), and stores an offset only when every message before it is finished:
at-least-once. Backpressure pauses partitions while still polling; revoked partitions commit
what is done and abandon the rest; stop() drains for a grace period, commits and leaves."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Sequence

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from consumer.metrics import ServiceMetrics
from consumer.offsets import OffsetTracker
from consumer.settings import Settings

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Message]], Awaitable[None]]


class StreamConsumer:
    def __init__(self, settings: Settings, metrics: ServiceMetrics, group_id: str, topics: Sequence[str],
                 handle: BatchHandler, batch_size: int | None = None):
        self.settings = settings
        self.metrics = metrics
        self.group_id = group_id
        self.topics = list(topics)
        self.handle = handle
        self.batch_size = batch_size or settings.batch_size
        self.max_in_flight = settings.max_in_flight
        self.tracker = OffsetTracker()
        self.assigned: set[tuple[str, int]] = set()
        self.paused = False
        self.running = False
        self.failure: BaseException | None = None
        self._tasks: set[asyncio.Task] = set()
        self._consumer: Consumer | None = None
        self._in_flight = metrics.in_flight.labels(metrics.service)

    def health(self) -> tuple[bool, dict]:
        detail = {"service": self.metrics.service, "assigned_partitions": len(self.assigned),
                  "in_flight": self.tracker.in_flight(), "paused": self.paused}
        if self.failure is not None:
            detail["error"] = repr(self.failure)
        return self.running and self.failure is None, detail

    def _make_consumer(self) -> Consumer:
        return Consumer({
            **self.settings.kafka_common(),
            "group.id": self.group_id,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.settings.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.settings.session_timeout_ms // 5),
            "enable.partition.eof": False,
        })

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; raises if a handler failed unexpectedly (offsets of its
        unfinished messages are not stored, so a restart redoes them)."""
        consumer = self._consumer = self._make_consumer()
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        self.running = True
        self.metrics.healthy.labels(self.metrics.service).set(1)
        try:
            while not stop.is_set() and self.failure is None:
                self._apply_backpressure()
                messages = consumer.consume(self.batch_size, 0 if self._tasks else 0.1)
                messages = self._accept(messages)
                if messages:
                    self._start(messages)
                if self._tasks:
                    await asyncio.wait(self._tasks, timeout=0 if messages else 0.005,
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(0)
            await self._drain()
        finally:
            self.running = False
            self.metrics.healthy.labels(self.metrics.service).set(0)
            self._commit(self.assigned)
            consumer.close()
        if self.failure is not None:
            raise self.failure

    def _accept(self, messages: list[Message]) -> list[Message]:
        good = []
        for message in messages:
            err = message.error()
            if err is None:
                good.append(message)
                continue
            self.metrics.consumer_errors.labels(self.metrics.service, err.name()).inc()
            if err.fatal():
                raise KafkaException(err)
            log.warning("consumer error: %s", err)
        return good

    def _start(self, messages: list[Message]) -> None:
        entries = []
        for m in messages:
            key = (m.topic(), m.partition())
            entries.append((key, self.tracker.add(key[0], key[1], m.offset()), m.offset()))
            self.metrics.consumed.labels(self.metrics.service, key[0]).inc()
        self._in_flight.set(self.tracker.in_flight())
        started = time.monotonic()
        task = asyncio.create_task(self.handle(messages))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finish(t, entries, started))

    def _finish(self, task: asyncio.Task, entries, started: float) -> None:
        self._tasks.discard(task)
        self.metrics.batch_seconds.labels(self.metrics.service).observe(time.monotonic() - started)
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("batch handler failed; stopping without storing its offsets", exc_info=task.exception())
            self.failure = task.exception()
            return
        to_store: dict[tuple[str, int], int] = {}
        for key, progress, offset in entries:
            moved = self.tracker.finish(key, progress, offset)
            if moved is not None:
                to_store[key] = moved
            self.metrics.completed.labels(self.metrics.service, key[0]).inc()
        self._in_flight.set(self.tracker.in_flight())
        if to_store and self._consumer is not None:
            try:
                self._consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in to_store.items()])
            except KafkaException as exc:  # partition revoked in the meantime: the new owner redoes it
                log.debug("store_offsets: %s", exc)

    def _apply_backpressure(self) -> None:
        in_flight = self.tracker.in_flight()
        partitions = [TopicPartition(t, p) for t, p in self.assigned]
        if not self.paused and in_flight >= self.max_in_flight and partitions:
            self._consumer.pause(partitions)
            self.paused = True
        elif self.paused and in_flight <= self.max_in_flight // 2:
            if partitions:
                self._consumer.resume(partitions)
            self.paused = False

    async def _drain(self) -> None:
        if not self._tasks:
            return
        done, pending = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d batches unfinished at shutdown; they will be redone after restart", len(pending))
            await asyncio.wait(pending, timeout=1.0)

    def _commit(self, keys) -> None:
        positions = self.tracker.positions(keys)
        if not positions or self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit failed: %s", exc)

    # Rebalance callbacks run inside consume(), on the event loop's thread.
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        # librdkafka keeps a partition's pause flag across a revoke and re-assign; a new assignment
        # starts unpaused here and the next loop turn re-applies backpressure from our own state.
        consumer.assign(partitions)
        consumer.resume(partitions)
        self.paused = False
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(keys)
        self.tracker.forget(keys)
        self.assigned -= keys
        self._in_flight.set(self.tracker.in_flight())
        log.info("revoked %s", sorted(f"{t}[{p}]" for t, p in keys))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self.tracker.forget(keys)  # lost, not revoked: committing now could overwrite the new owner's progress
        self.assigned -= keys
