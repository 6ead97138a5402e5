"""The consume -> process -> commit loop every service runs.

Fetches batches on a thread of its own, hands each to the service's `handle(messages)` as its own
task (bounded by max_in_flight messages), and stores an offset only when every message before it
is finished: at-least-once. The fetched offsets of each partition must be contiguous: a gap is
fetched again, never stepped over (consumer.fetch_positions). A handler that raises is the
message's problem, not the stage's (consumer.isolation); an outage of the broker or Postgres holds
the stage until it is over. On a retry tier, a message whose tidings-due-at is in the future is
kept in memory with everything after it from its partition, and only that partition is paused
until it is due (resume restarts after the last message fetched, so nothing is skipped); main
lanes ignore due times. At the in-flight bound the loop waits for work to finish; when that
lasts, backpressure pauses partitions. Holds and strict priority (consumer.priority) pause them too,
while the loop keeps polling, so the consumer never leaves its group.

Rebalances are cooperative where the assignor allows: only partitions that move are revoked, and
a revoked partition's in-flight work is finished (for up to shutdown_grace_s) and committed before
it is handed over, so a clean scale-out, scale-in or stop redoes nothing. The rebalance callbacks
run on the fetch thread and wait for the event loop to finish that work."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer import failure_headers, kafka_logging
from consumer.events import Clock, utcnow
from consumer.fetch_positions import FetchPositions, Gap
from consumer.isolation import Isolation, Quarantine, Quarantined, RetryLater, Split, describe
from consumer.metrics import ServiceMetrics
from consumer.offsets import OffsetTracker, PartitionProgress
from consumer.outages import dependency_of
from consumer.priority import PriorityLanes, split_by_lane
from consumer.rebalance import Rebalancing
from consumer.settings import Settings
from consumer.topics import PRIORITIES

log = logging.getLogger(__name__)

# A handler either raises (the whole batch failed: it is split and each message tried on its own)
# or returns the messages it could not handle with their errors (None or [] when all went well).
Failures = list[tuple[Message, BaseException]]
BatchHandler = Callable[[list[Message]], Awaitable[Failures | None]]
Key = tuple[str, int]
Entry = tuple[Key, PartitionProgress, int]

# While work is in flight the fetch returns after this long even with fewer messages than asked
# for, so completions are turned into stored offsets and pause changes promptly (a service that
# nothing waits for, the sink, may wait longer for fuller batches: `busy_wait_s`).
BUSY_FETCH_WAIT_S = 0.005
# With nothing in flight: consume() waits this long for a full batch before returning fewer, so it
# bounds what a quiet stream adds to each message's latency per stage (0.1 s held p50 near 0.2 s).
IDLE_FETCH_WAIT_S = 0.02
FETCH_WAIT_MS = 100  # librdkafka's fetch.wait.max.ms (see _make_consumer)
PREFETCH_MESSAGES = 500  # librdkafka's queued.min.messages (see _make_consumer)
FETCH_QUEUE_BACKOFF_MS = 20  # librdkafka's fetch.queue.backoff.ms
# At the in-flight bound the loop stops fetching for up to this long before it pauses every
# partition. librdkafka notices a resume only when its broker thread next wakes, which with every
# partition paused (no fetch in flight) is up to a second later: the stage sat idle that long
# after each full spell (seen: 0.6-0.9 s stalls, one in every few at a backlog). Not consuming
# leaves the prefetch running (bounded by librdkafka's queue), so work resumes at once; the pause
# after this long keeps a stage that stays full from holding a rebalance or prefetching for long.
FULL_PAUSE_AFTER_S = 1.0


class WaitingPartition:
    """A partition's fetched messages from its first not-yet-due one on, in offset order."""

    def __init__(self, due: float, messages: list[Message]):
        self.due = due
        self.messages = messages

    def add(self, message: Message) -> None:
        self.messages.append(message)


class StreamConsumer(Rebalancing):
    def __init__(self, settings: Settings, metrics: ServiceMetrics, group_id: str, topics: Sequence[str],
                 handle: BatchHandler, batch_size: int | None = None, clock: Clock = utcnow,
                 max_in_flight: int | None = None, timed_topics: Sequence[str] = (),
                 quarantine: Quarantine | None = None, idle_wait_s: float = IDLE_FETCH_WAIT_S,
                 busy_wait_s: float = BUSY_FETCH_WAIT_S):
        self.settings = settings
        self.idle_wait_s = idle_wait_s
        self.busy_wait_s = busy_wait_s
        self.metrics = metrics
        self.group_id = group_id
        self.topics = list(topics)
        self.timed_topics = frozenset(timed_topics)  # retry tiers: the only topics whose due times count
        self.handle = handle
        self.quarantine = quarantine
        self.batch_size = batch_size or settings.batch_size
        self.max_in_flight = max_in_flight or settings.max_in_flight
        self.clock = clock
        self.tracker = OffsetTracker()
        self.positions = FetchPositions()
        self.isolation = Isolation(metrics, settings.internal_error_attempts)
        self.assigned: set[Key] = set()
        self.waiting: dict[Key, WaitingPartition] = {}  # partitions holding a not-yet-due message
        self.held_until: float | None = None
        self.held_reason = ""
        self.backpressure = False  # lower lanes paused: in flight reached the bound minus the reserve
        self.top_backpressure = False  # nothing fetched: in flight reached the bound
        self._full_since = 0.0  # monotonic time top_backpressure began
        self.lanes = PriorityLanes(settings.priority_resume_after_s, settings.priority_max_pause_s,
                                   settings.priority_lag_messages, clock=time.monotonic)
        self.running = False
        self.failure: BaseException | None = None
        self.broker_error: str | None = None
        self._paused: set[Key] = set()
        self._tasks: dict[asyncio.Task, list[Message]] = {}
        self._backing_off: set[asyncio.Task] = set()  # retries still waiting out their backoff
        self._consumer: Consumer | None = None
        self._cooperative = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fetcher = ThreadPoolExecutor(1, thread_name_prefix=f"{metrics.service}-fetch")
        self._fetcher_closed = False
        self._in_flight = metrics.in_flight.labels(metrics.service)

    def health(self) -> tuple[bool, dict]:
        detail = {"service": self.metrics.service, "assigned_partitions": len(self.assigned),
                  "in_flight": self.tracker.in_flight(), "paused_partitions": len(self._paused),
                  "waiting_for_due": len(self.waiting),
                  "lanes_paused_for_priority": sorted(PRIORITIES[r] for r in self.lanes.paused_at)}
        if self.held_until is not None:
            detail["held"] = self.held_reason
            detail["held_for_s"] = round(max(0.0, self.held_until - self._now()), 1)
        if self.isolation.outages:
            detail["held"] = "waiting for " + ", ".join(sorted(self.isolation.outages))
            detail["unavailable"] = dict(self.isolation.outages)
        if self.broker_error is not None:
            detail["broker"] = self.broker_error
        if self.failure is not None:
            detail["error"] = repr(self.failure)
        ok = (self.running and self.failure is None and self.held_until is None and not self.isolation.holding
              and self.broker_error is None)
        return ok, detail

    def _now(self) -> float:
        return self.clock().timestamp()

    def _make_consumer(self) -> Consumer:
        config = {
            **self.settings.kafka_common(),
            "group.id": self.group_id,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": self.settings.commit_interval_ms,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": self.settings.assignment_strategy,
            "session.timeout.ms": self.settings.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.settings.session_timeout_ms // 5),
            # How long the broker may hold a fetch that finds nothing new. Tansu answers a waiting
            # fetch only when this runs out, not when a message arrives: at 100 ms each stage adds
            # 27 ms p50 (52 ms at worst) between a produce and its consume, at 20 ms 5 ms (8 ms).
            # But at 20 ms a loaded pipeline made many more, smaller fetches: the broker's CPU per
            # notification rose from 248-416 to 512-594 us (bench.end_to_end throughput phase,
            # alternating runs). The [kafka] table may lower it where latency matters more.
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            # The prefetch kept while the loop waits at its bound (FULL_PAUSE_AFTER_S): librdkafka's
            # 64 MB default grew the router by 49 MB over a 1M backlog, 16 MB by 13 MB, no slower.
            "queued.max.messages.kbytes": 16384,
            # librdkafka hands every partition's messages over in one queue, so an URGENT message
            # comes out behind whatever LOW prefetch is already queued. Its default prefetch of
            # 100,000 messages (capped by the 16 MB above) put an URGENT event behind thousands of
            # LOW ones after each resume, and once the queue was full every partition's next fetch,
            # the URGENT lane's too, waited fetch.queue.backoff.ms (1 s by default). Prefetching about
            # a batch and backing off 20 ms: bench.urgent_under_backlog p99 1.71-1.77 s -> 0.37-0.49 s,
            # the LOW backlog drained no slower (1,497-1,544 -> 1,567-1,910/s).
            "queued.min.messages": PREFETCH_MESSAGES,
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
            # End-of-partition events tell the priority lanes that a lane has caught up.
            "enable.partition.eof": True,
            "statistics.interval.ms": 5000,
            "stats_cb": self._on_statistics,
            "error_cb": self._on_error,
            "logger": kafka_logging.log,  # librdkafka's own lines through logging, not stderr
        }
        # The config file's [kafka] table may set these as well; its value wins.
        config.update({k: v for k, v in self.settings.kafka_common().items()
                       if k in ("partition.assignment.strategy", "queued.max.messages.kbytes", "fetch.wait.max.ms",
                                "queued.min.messages", "fetch.queue.backoff.ms")})
        # Incremental (cooperative) assignment calls differ from eager ones; the client cannot say which it runs.
        self._cooperative = "cooperative" in config["partition.assignment.strategy"]
        return Consumer(config)

    async def _fetch_thread(self, call, *args, **kwargs):
        return await self._loop.run_in_executor(self._fetcher, lambda: call(*args, **kwargs))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set. Raises only on a fatal Kafka client error."""
        self._loop = asyncio.get_running_loop()
        consumer = self._consumer = self._make_consumer()
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        self.running = True
        try:
            while not stop.is_set() and self.failure is None:
                if released := self._release_due():
                    self._start(released)
                self._update_pauses()
                if self._full_briefly():
                    await self._wait_for_room()
                    continue
                # Never fetch past the in-flight bound; at the bound for long every partition is
                # paused and consume() only keeps the group membership alive.
                room = max(1, min(self.batch_size, self.max_in_flight - self.tracker.in_flight()))
                wait = self.busy_wait_s if self._tasks else self._idle_wait()
                messages, ends = await self._fetch_thread(self._consume, room, wait)
                messages = self._admit(self._accept(messages, ends))
                for lane_batch in split_by_lane(messages):
                    self._start(lane_batch)
                await asyncio.sleep(0)
            await self._drain()
        finally:
            self.running = False
            await self._fetch_thread(self._commit, set(self.assigned))
            await self._fetch_thread(consumer.close)  # a last revoke: nothing is in flight any more
            self._fetcher_closed = True
            self._fetcher.shutdown(wait=False)
        if self.failure is not None:
            raise self.failure

    def _full_briefly(self) -> bool:
        """At the in-flight bound for less than FULL_PAUSE_AFTER_S: wait for room, fetch nothing."""
        return self.top_backpressure and time.monotonic() - self._full_since < FULL_PAUSE_AFTER_S

    async def _wait_for_room(self) -> None:
        """Until a batch finishes, or at most a loop turn (due retries, stop, the pause deadline)."""
        timeout = max(0.0, min(self.idle_wait_s, self._full_since + FULL_PAUSE_AFTER_S - time.monotonic()))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(timeout)

    def _idle_wait(self) -> float:
        """Block in consume() at most until the next partition comes due."""
        wakeups = [w.due for w in self.waiting.values()]
        if self.held_until is not None:
            wakeups.append(self.held_until)
        if not wakeups:
            return self.idle_wait_s
        return min(self.idle_wait_s, max(0.0, min(wakeups) - self._now()))

    def _consume(self, room: int, wait: float) -> tuple[list[Message], set[Key]]:
        """On the fetch thread: a batch, and the lane partitions it brought to the high watermark
        of their last fetch response. librdkafka reports a partition's end only once a later fetch
        comes back empty, up to fetch.wait.max.ms after its last message: a lane's backlog held
        the lanes below it 0.06-0.13 s longer each time (bench.router, Tansu, whose fetch responses
        carry the right high watermark, unlike its ListOffsets)."""
        messages = self._consumer.consume(room, wait)
        ranks = self.lanes.ranks
        if not ranks:  # no lane topics (the sink): nothing to tell
            return messages, set()
        last: dict[Key, int] = {}
        for message in messages:
            if message.error() is None and (key := (message.topic(), message.partition())) in ranks:
                last[key] = message.offset()
        ends = set()
        for key, offset in last.items():
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            except (KafkaException, RuntimeError):  # revoked meanwhile: its end event still comes
                continue
            if offset + 1 == high:
                ends.add(key)
        return messages, ends

    def _accept(self, messages: list[Message], ends: set[Key] = frozenset()) -> list[Message]:
        good: list[Message] = []
        gaps: set[Key] = set()
        for message in messages:
            err = message.error()
            if err is not None:
                self._client_error(message, err)
                continue
            self.broker_error = None
            key = (message.topic(), message.partition())
            if key not in self.assigned or key in gaps:
                continue  # revoked while it was fetched, or behind a gap that is fetched again
            seen = self.positions.check(key, message.offset())
            if seen is True:
                good.append(message)
                self.lanes.fetched(key)
            elif isinstance(seen, Gap):
                gaps.add(key)
                self._refetch(seen)
        for key in ends - gaps:
            self.lanes.reached_end(key)
        return good

    def _client_error(self, message: Message, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            self.lanes.reached_end((message.topic(), message.partition()))
            return
        self.metrics.consumer_errors.labels(self.metrics.service, err.name()).inc()
        if err.fatal():
            self.failure = KafkaException(err)
            return
        log.warning("consumer error: %s", err)

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's error callback (fetch thread): broker-wide trouble is reported in health."""
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self.broker_error = f"{err.name()}: {err.str()}"
        kafka_logging.on_error(err)  # through logging, repeats held back

    def _refetch(self, gap: Gap) -> None:
        """Offsets went missing between the broker and us: fetch again from the first missing one."""
        topic, partition = gap.key
        self.metrics.offset_gaps.labels(self.metrics.service, topic).inc()
        log.warning("%s[%d]: fetched offset %d but expected %d; fetching again from %d",
                    topic, partition, gap.fetched, gap.expected, gap.expected)

        def seek() -> None:
            try:
                self._consumer.seek(TopicPartition(topic, partition, gap.expected))
            except (KafkaException, RuntimeError) as exc:  # not fetching yet: the gap shows again, try then
                log.warning("seek %s[%d] to %d: %s", topic, partition, gap.expected, exc)

        self._on_fetch_thread(seek)

    def _admit(self, messages: list[Message]) -> list[Message]:
        """Messages that may run now. On a retry tier, the first not-yet-due message of a
        partition, and every later one fetched from it, wait in memory (not tracked, so no offset
        passes them)."""
        now = self._now()
        admitted = []
        for message in messages:
            key = (message.topic(), message.partition())
            if key in self.waiting:
                self.waiting[key].add(message)
                continue
            if key[0] in self.timed_topics:
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
        if changes := self._plan_pauses():
            self._on_fetch_thread(self._apply_pauses, *changes)

    def _plan_pauses(self) -> tuple[set[Key], set[Key]] | None:
        """Decide which partitions stay paused now; returns what to pause and resume, if anything."""
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
            if not self.top_backpressure:
                self._full_since = time.monotonic()
            self.top_backpressure = True
        elif in_flight < self.max_in_flight - reserve:
            self.top_backpressure = False
        by_priority = self.lanes.to_pause()
        full_for_long = self.top_backpressure and not self._full_briefly()
        if self.held_until is not None or self.isolation.holding or full_for_long:
            wanted = set(self.assigned)
        elif self.backpressure and top is not None:
            wanted = self.assigned - (self.lanes.partitions_of(top) - set(self.waiting))
        else:
            wanted = (set(self.waiting) | by_priority) & self.assigned
        if self._consumer is None or wanted == self._paused:
            return None
        pause, resume = wanted - self._paused, self._paused - wanted
        self._paused = wanted
        self._report_paused(pause | resume)
        return pause, resume

    def _apply_pauses(self, pause: set[Key], resume: set[Key]) -> None:
        """On the fetch thread. A pause or resume that fails (the partition is being revoked right
        now) is handed back, so that the next loop turn sees the difference and asks again."""
        for keys, call, undo in ((pause, self._consumer.pause, self._paused.difference_update),
                                 (resume, self._consumer.resume, self._paused.update)):
            if not keys:
                continue
            try:
                call([TopicPartition(t, p) for t, p in keys])
            except (KafkaException, RuntimeError) as exc:
                log.debug("pause/resume: %s", exc)
                self._loop.call_soon_threadsafe(undo, keys)

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
        assigned = set(self.assigned)
        for topic, detail in stats.get("topics", {}).items():
            for partition, p in detail.get("partitions", {}).items():
                lag = p.get("consumer_lag_stored", p.get("consumer_lag", -1))
                if (topic, int(partition)) in assigned and lag >= 0:
                    self.metrics.consumer_lag.labels(self.metrics.service, topic, partition).set(lag)

    # --- running the service's handler -------------------------------------------------------

    def _start(self, messages: list[Message]) -> None:
        entries = []
        for m in messages:
            key = (m.topic(), m.partition())
            entries.append((key, self.tracker.add(key[0], key[1], m.offset()), m.offset()))
        self._count(self.metrics.consumed, entries)
        self._in_flight.set(self.tracker.in_flight())
        self._run(messages, entries)

    def _run(self, messages: list[Message], entries: list[Entry], delay_s: float = 0.0,
             outage: str | None = None, quarantine: BaseException | None = None) -> None:
        """Handle (or quarantine) tracked messages as one task, after `delay_s` when retrying."""
        started = time.monotonic()

        async def work() -> Failures | None:
            if delay_s:
                try:
                    await asyncio.sleep(delay_s)
                finally:
                    self._backing_off.discard(task)
                    self.isolation.retried(outage)
            if quarantine is not None:
                await self.quarantine(messages[0], quarantine)
                return None
            return await self.handle(messages)

        task = asyncio.create_task(work())
        self._tasks[task] = messages
        if delay_s:
            self._backing_off.add(task)
        task.add_done_callback(lambda t: self._finish(t, messages, entries, started, quarantine))

    def _finish(self, task: asyncio.Task, messages: list[Message], entries: list[Entry], started: float,
                quarantining: BaseException | None) -> None:
        self._tasks.pop(task, None)
        self.metrics.batch_seconds.labels(self.metrics.service).observe(time.monotonic() - started)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._failed(messages, entries, exc, quarantining)
            return
        if quarantining is not None:
            self.isolation.quarantined(messages[0])
        if failed := task.result():  # the handler isolated these failures itself; the rest are done
            entry_of = {id(m): e for m, e in zip(messages, entries)}
            for message, error in failed:
                self._failed([message], [entry_of.pop(id(message))], error, None)
            messages = [m for m in messages if id(m) in entry_of]
            entries = [entry_of[id(m)] for m in messages]
        self.isolation.succeeded(messages)
        to_store: dict[Key, int] = {}
        for key, progress, offset in entries:
            moved = self.tracker.finish(key, progress, offset)
            if moved is not None:
                to_store[key] = moved
        self._count(self.metrics.completed, entries)
        self._in_flight.set(self.tracker.in_flight())
        if to_store and self._consumer is not None:
            self._on_fetch_thread(self._store, [TopicPartition(t, p, o) for (t, p), o in to_store.items()])

    def _store(self, offsets: list[TopicPartition]) -> None:
        try:
            self._consumer.store_offsets(offsets=offsets)
        except (KafkaException, RuntimeError) as exc:  # revoked in the meantime: the new owner redoes it
            log.debug("store_offsets: %s", exc)

    def _on_fetch_thread(self, call, *args) -> None:
        """Run a call on the consumer on the fetch thread, after whatever it is doing: the client is
        used from that one thread only. librdkafka's pause and resume wait for its own threads, which
        may be waiting for a rebalance callback, which waits for this loop (seen: a router's
        assignment held 30 s, then given up)."""
        if not self._fetcher_closed:
            self._fetcher.submit(call, *args)

    def _failed(self, messages: list[Message], entries: list[Entry], exc: BaseException,
                quarantining: BaseException | None) -> None:
        if quarantining is not None:
            # The dead-letter topic did not take it: try again (an outage holds the stage), never drop it.
            step = self.isolation.after_failure(messages, exc) if dependency_of(exc) else None
            if step is None:
                log.error("%s: cannot dead-letter %s[%d]@%d (%s); trying again", self.metrics.service,
                          messages[0].topic(), messages[0].partition(), messages[0].offset(), describe(exc))
                step = RetryLater(self.isolation.outage_backoff.delay(3))
            self._run(messages, entries, delay_s=step.delay_s, outage=step.outage, quarantine=quarantining)
            self._update_pauses()
            return
        step = self.isolation.after_failure(messages, exc)
        if isinstance(step, Split):
            for message, entry in zip(messages, entries):
                self._run([message], [entry])
        elif isinstance(step, RetryLater):
            self._run(messages, entries, delay_s=step.delay_s, outage=step.outage)
        elif isinstance(step, Quarantined):
            if self.quarantine is None:
                log.critical("%s: no way to dead-letter; stopping", self.metrics.service)
                self.failure = exc
                return
            self._run(messages, entries, quarantine=exc)
        self._update_pauses()

    def _count(self, counter, entries) -> None:
        """Add a batch to a per-topic counter: one labels() lookup per topic, not per message."""
        for topic, count in Counter(key[0] for key, _, _ in entries).items():
            counter.labels(self.metrics.service, topic).inc(count)

    async def _drain(self) -> None:
        for task in list(self._backing_off):  # retries that have not started: redone after restart
            task.cancel()
        if not self._tasks:
            return
        done, pending = await asyncio.wait(list(self._tasks), timeout=self.settings.shutdown_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d batches unfinished at shutdown; they will be redone after restart", len(pending))
            await asyncio.wait(pending, timeout=1.0)

    def _commit(self, keys) -> None:
        positions = self.tracker.positions(keys)
        if positions:
            self._commit_positions(positions)

    def _commit_positions(self, positions: dict[Key, int]) -> None:
        if not positions or self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit failed: %s", exc)
