"""The consume -> process -> commit loop every service runs.

Fetches batches, hands each to the service's `handle(messages)` as its own task (bounded by
max_in_flight messages), and stores an offset only when every message before it is finished:
at-least-once. A message whose tidings-due-at is in the future is kept in memory with everything
after it from its partition, and only that partition is paused until it is due (resume restarts
after the last message fetched, so nothing is skipped and no seek is needed); backpressure and the
dead-letter limit pause partitions while the loop keeps polling, so the consumer never leaves its
group. Revoked partitions commit what is done
and abandon the rest; stop drains for a grace period, commits and leaves.

Strict priority (consumer.priority): lower lanes' partitions are paused while a higher lane has
work. Backpressure pauses the lower lanes a little before the in-flight bound, so the top lane
keeps a reserve of slots and is not paused (a resume costs up to a second) unless it fills the
bound itself. Paused state is re-derived every loop turn, so it is re-applied after a rebalance."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Awaitable, Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer import failure_headers
from consumer.events import Clock, utcnow
from consumer.metrics import ServiceMetrics
from consumer.offsets import OffsetTracker
from consumer.priority import PriorityLanes, split_by_lane
from consumer.settings import Settings
from consumer.topics import PRIORITIES

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Message]], Awaitable[None]]
Key = tuple[str, int]


class WaitingPartition:
    """A partition's fetched messages from its first not-yet-due one on, in offset order."""

    def __init__(self, due: float, messages: list[Message]):
        self.due = due
        self.messages = messages

    def add(self, message: Message) -> None:
        if message.offset() > self.messages[-1].offset():  # a re-fetch after resume is not doubled
            self.messages.append(message)


class StreamConsumer:
    def __init__(self, settings: Settings, metrics: ServiceMetrics, group_id: str, topics: Sequence[str],
                 handle: BatchHandler, batch_size: int | None = None, clock: Clock = utcnow,
                 max_in_flight: int | None = None):
        self.settings = settings
        self.metrics = metrics
        self.group_id = group_id
        self.topics = list(topics)
        self.handle = handle
        self.batch_size = batch_size or settings.batch_size
        self.max_in_flight = max_in_flight or settings.max_in_flight
        self.clock = clock
        self.tracker = OffsetTracker()
        self.assigned: set[Key] = set()
        self.waiting: dict[Key, WaitingPartition] = {}  # partitions holding a not-yet-due message
        self.held_until: float | None = None
        self.held_reason = ""
        self.backpressure = False  # lower lanes paused: in flight reached the bound minus the reserve
        self.top_backpressure = False  # everything paused: in flight reached the bound
        self.lanes = PriorityLanes(settings.priority_resume_after_s, settings.priority_max_pause_s,
                                   settings.priority_lag_messages, clock=time.monotonic)
        self.running = False
        self.failure: BaseException | None = None
        self._paused: set[Key] = set()
        self._tasks: set[asyncio.Task] = set()
        self._consumer: Consumer | None = None
        self._in_flight = metrics.in_flight.labels(metrics.service)

    def health(self) -> tuple[bool, dict]:
        detail = {"service": self.metrics.service, "assigned_partitions": len(self.assigned),
                  "in_flight": self.tracker.in_flight(), "paused_partitions": len(self._paused),
                  "waiting_for_due": len(self.waiting),
                  "lanes_paused_for_priority": sorted(PRIORITIES[r] for r in self.lanes.paused_at)}
        if self.held_until is not None:
            detail["held"] = self.held_reason
            detail["held_for_s"] = round(max(0.0, self.held_until - self._now()), 1)
        if self.failure is not None:
            detail["error"] = repr(self.failure)
        return self.running and self.failure is None and self.held_until is None, detail

    def _now(self) -> float:
        return self.clock().timestamp()

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
            "fetch.wait.max.ms": 100,
            # End-of-partition events tell the priority lanes that a lane has caught up.
            "enable.partition.eof": True,
            "statistics.interval.ms": 5000,
            "stats_cb": self._on_statistics,
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
                if released := self._release_due():
                    self._start(released)
                self._update_pauses()
                # Never fetch past the in-flight bound; at the bound every partition is paused and
                # consume() only keeps the group membership alive.
                room = max(1, min(self.batch_size, self.max_in_flight - self.tracker.in_flight()))
                messages = consumer.consume(room, 0 if self._tasks else self._idle_wait())
                messages = self._admit(self._accept(messages))
                for lane_batch in split_by_lane(messages):
                    self._start(lane_batch)
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

    def _idle_wait(self) -> float:
        """Block in consume() at most until the next partition comes due."""
        wakeups = [w.due for w in self.waiting.values()]
        if self.held_until is not None:
            wakeups.append(self.held_until)
        if not wakeups:
            return 0.1
        return min(0.1, max(0.0, min(wakeups) - self._now()))

    def _accept(self, messages: list[Message]) -> list[Message]:
        good = []
        for message in messages:
            err = message.error()
            if err is None:
                good.append(message)
                self.lanes.fetched((message.topic(), message.partition()))
                continue
            if err.code() == KafkaError._PARTITION_EOF:
                self.lanes.reached_end((message.topic(), message.partition()))
                continue
            self.metrics.consumer_errors.labels(self.metrics.service, err.name()).inc()
            if err.fatal():
                raise KafkaException(err)
            log.warning("consumer error: %s", err)
        return good

    def _admit(self, messages: list[Message]) -> list[Message]:
        """Messages that may run now. The first not-yet-due message of a partition, and every
        later one fetched from it, wait in memory (not tracked, so no offset passes them)."""
        now = self._now()
        admitted = []
        for message in messages:
            key = (message.topic(), message.partition())
            if key in self.waiting:
                self.waiting[key].add(message)
                continue
            due = failure_headers.due_at(message)
            if due is not None and due.timestamp() > now:
                self.waiting[key] = WaitingPartition(due.timestamp(), [message])
                continue
            admitted.append(message)
        self._update_pauses()
        return admitted

    def _release_due(self) -> list[Message]:
        """The waiting messages of partitions that came due, in offset order (a later message
        that is not due yet starts a new wait)."""
        now = self._now()
        released = []
        for key in [k for k, w in self.waiting.items() if w.due <= now]:
            released += self.waiting.pop(key).messages
        return self._admit(released) if released else []

    def hold(self, until: float, reason: str) -> None:
        """Pause every partition until `until` (epoch seconds), e.g. when the dead-letter limit trips."""
        self.held_until, self.held_reason = until, reason
        self._update_pauses()

    def _update_pauses(self) -> None:
        now = self._now()
        if self.held_until is not None and self.held_until <= now:
            log.info("%s: hold (%s) over, consuming again", self.metrics.service, self.held_reason)
            self.held_until, self.held_reason = None, ""
        in_flight = self.tracker.in_flight()
        top = self.lanes.top()
        reserve = max(1, self.max_in_flight // 20) if top is not None and self.max_in_flight > 1 else 0
        if in_flight >= self.max_in_flight - reserve:
            self.backpressure = True
        elif in_flight <= self.max_in_flight // 2:
            self.backpressure = False
        if in_flight >= self.max_in_flight:
            self.top_backpressure = True
        elif in_flight < self.max_in_flight - reserve:
            self.top_backpressure = False
        by_priority = self.lanes.to_pause(self.tracker.in_flight_by_partition())
        if self.held_until is not None or self.top_backpressure:
            wanted = set(self.assigned)
        elif self.backpressure:
            wanted = self.assigned - (self.lanes.partitions_of(top) - set(self.waiting))
        else:
            wanted = (set(self.waiting) | by_priority) & self.assigned
        if self._consumer is None or wanted == self._paused:
            return
        if pause := wanted - self._paused:
            self._consumer.pause([TopicPartition(t, p) for t, p in pause])
        if resume := self._paused - wanted:
            self._consumer.resume([TopicPartition(t, p) for t, p in resume])
        self._paused = wanted
        self._report_paused(pause | resume)

    def _report_paused(self, changed: set[Key]) -> None:
        for topic in {t for t, _ in changed}:
            count = sum(1 for t, _ in self._paused if t == topic)
            self.metrics.paused_partitions.labels(self.metrics.service, topic).set(count)

    def _on_statistics(self, stats_json: str) -> None:
        """Consumer lag per partition from librdkafka's statistics: the high watermark of the last
        fetch response (right on Tansu, unlike ListOffsets) minus the stored offset, i.e. messages
        not yet finished (-1, unknown, is not reported)."""
        try:
            stats = json.loads(stats_json)
        except ValueError:
            return
        for topic, detail in stats.get("topics", {}).items():
            for partition, p in detail.get("partitions", {}).items():
                lag = p.get("consumer_lag_stored", p.get("consumer_lag", -1))
                if (topic, int(partition)) in self.assigned and lag >= 0:
                    self.metrics.consumer_lag.labels(self.metrics.service, topic, partition).set(lag)

    def _start(self, messages: list[Message]) -> None:
        entries = []
        for m in messages:
            key = (m.topic(), m.partition())
            entries.append((key, self.tracker.add(key[0], key[1], m.offset()), m.offset()))
        self._count(self.metrics.consumed, entries)
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
        to_store: dict[Key, int] = {}
        for key, progress, offset in entries:
            moved = self.tracker.finish(key, progress, offset)
            if moved is not None:
                to_store[key] = moved
        self._count(self.metrics.completed, entries)
        self._in_flight.set(self.tracker.in_flight())
        if to_store and self._consumer is not None:
            try:
                self._consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in to_store.items()])
            except KafkaException as exc:  # partition revoked in the meantime: the new owner redoes it
                log.debug("store_offsets: %s", exc)

    def _count(self, counter, entries) -> None:
        """Add a batch to a per-topic counter: one labels() lookup per topic, not per message."""
        for topic, count in Counter(key[0] for key, _, _ in entries).items():
            counter.labels(self.metrics.service, topic).inc(count)

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
        self.lanes.assigned((tp.topic, tp.partition) for tp in partitions)
        # librdkafka keeps a partition's pause flag across a revoke and re-assign; a new assignment
        # starts unpaused here and the next loop turn re-applies our own pause decisions.
        consumer.assign(partitions)
        consumer.resume(partitions)
        self._paused -= {(tp.topic, tp.partition) for tp in partitions}
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(keys)
        self._drop(keys)
        log.info("revoked %s", sorted(f"{t}[{p}]" for t, p in keys))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: committing now could overwrite the new owner's progress.
        self._drop({(tp.topic, tp.partition) for tp in partitions})

    def _drop(self, keys: set[Key]) -> None:
        self.tracker.forget(keys)
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
