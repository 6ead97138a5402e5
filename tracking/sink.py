"""`tidings run sink`: consume tidings.deliveries into Postgres, idempotent on the DeliveryEvent
id (re-reading the topic from offset 0 changes nothing). Group commit: batches fetched while a
write is running are written together in the next transaction, so under load transactions grow
instead of queueing up one small batch each.

It records the dead-letter topic too (tracking.dead_letters: one row per message, idempotent on
its position), which `tidings dlq` and GET /v1/dlq list from instead of reading the topic."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import psycopg
from confluent_kafka import Message

from consumer.codec import Codec, DecodeError
from consumer.events import DELIVERY
from consumer.metrics import ServiceMetrics
from consumer.dead_letters import DeadLetters
from consumer.isolation import describe
from consumer.outages import dependency_of
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics
from tracking.dead_letters import DeadLetter, DeadLetterLog, dead_letter_row
from tracking.migrate import migrate
from tracking.stats import dead_lettered_count, held_counts
from tracking.row_rules import row_problem, safe_text
from tracking.store import DeliveryLog, event_row


log = logging.getLogger(__name__)

# How often the sink refreshes tidings_dead_lettered_deliveries and the held-delivery gauges (two
# indexed counts in Postgres).
DEPTH_REFRESH_S = 15.0

# Messages decoded between yields to the event loop (~0.7 ms of fastavro): the writer waits at
# most one slice per round trip (100 measured slower in bench.sink, 250 slower still).
DECODE_SLICE = 50


class SinkService:
    name = "sink"
    # No delivery waits for the sink, so it gathers delivery events for up to 0.1 s, also while a
    # batch is being written (other stages return after 5 ms then): at half load its batches were a
    # few events each, and its CPU per notification in bench.end_to_end's paced phase fell from
    # 144-184 to 100-106 us (at full rate 92-100 -> 68-70). `tidings status` sees a row that much later.
    idle_wait_s = 0.1
    busy_wait_s = 0.1

    def __init__(self, settings: Settings, metrics: ServiceMetrics):
        self.settings = settings
        self.metrics = metrics
        self.codec = Codec.from_settings(settings)
        self.group_id = f"{settings.group_prefix}.sink"
        self.dlq_topic = Topics(settings.topic_prefix).dlq
        self.topics = [Topics(settings.topic_prefix).deliveries, self.dlq_topic]
        self.batch_size = settings.sink_batch_size
        # Room for many batches while one is written (delivery events are small): with in-flight
        # near one batch the stream pauses after every batch and then waits for the first fetch
        # after resume (0.02 s to about a second on Tansu, see docs/testing.md); measured 4,300 rows/s at 4
        # batches, 9,400 at 20 (bench.sink, before the decode and COPY changes).
        self.max_in_flight = max(settings.max_in_flight, 20 * self.batch_size)
        self.log: DeliveryLog | None = None
        self.publisher: Publisher | None = None
        self.dead_letters: DeadLetters | None = None
        self.dead_letter_log: DeadLetterLog | None = None
        # One connection: batches fetched while one is being written wait, then go in together.
        self._writing = asyncio.Lock()
        # One batch decodes at a time, in slices: the write's round trips are then answered within
        # a slice, not after every fetched batch's decode (each ~15 ms of the loop per 1,000).
        self._decoding = asyncio.Lock()
        self._pending: list[tuple[list[tuple], asyncio.Future]] = []
        self._depth_watch: asyncio.Task | None = None

    async def start(self) -> None:
        migrate(self.settings.database_url)
        self.log = await DeliveryLog.connect(self.settings.database_url)
        self.dead_letter_log = DeadLetterLog(self.settings.database_url, self.settings.sink_write_timeout_s)
        self.publisher = Publisher.from_settings(self.settings)
        self.dead_letters = DeadLetters(self.publisher, Topics(self.settings.topic_prefix), self.group_id,
                                        self.name, self.metrics)
        self._depth_watch = asyncio.create_task(self._watch_depth())
        self.metrics.start_series(dead_letter_reasons=("undecodable", "invalid_event"))

    async def _watch_depth(self) -> None:
        """tidings_dead_lettered_deliveries and the held-delivery gauges every DEPTH_REFRESH_S,
        whether batches arrive or not."""
        while True:
            try:
                async with self._writing:
                    connected = await self._connected()
                    async with asyncio.timeout(self.settings.sink_write_timeout_s):
                        depth = await dead_lettered_count(connected.conn)
                    async with asyncio.timeout(self.settings.sink_write_timeout_s):
                        held = await held_counts(connected.conn, self.settings.held_overdue_after_s)
                self.metrics.dlq_depth.labels(self.name).set(depth)
                for status, (pending, overdue, age) in held.items():
                    self.metrics.held_deliveries.labels(self.name, status).set(pending)
                    self.metrics.held_overdue.labels(self.name, status).set(overdue)
                    self.metrics.held_overdue_age.labels(self.name, status).set(age)
            except (psycopg.Error, asyncio.TimeoutError) as exc:  # the next batch's write reconnects
                log.warning("cannot count dead-lettered deliveries: %s", describe(exc))
            await asyncio.sleep(DEPTH_REFRESH_S)

    async def close(self) -> None:
        if self._depth_watch is not None:
            self._depth_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depth_watch
        if self.log is not None:
            await self.log.close()
        if self.dead_letter_log is not None:
            await self.dead_letter_log.close()
        if self.publisher is not None:
            self.publisher.close()

    async def handle(self, messages: list[Message]) -> None:
        if dead := [m for m in messages if m.topic() == self.dlq_topic]:
            # Few and far between: written on their own connection, then the delivery events.
            await self.dead_letter_log.record([dead_letter_row(DeadLetter.of(m), self.codec) for m in dead])
            messages = [m for m in messages if m.topic() != self.dlq_topic]
        rows, rejected = [], []
        async with self._decoding:
            for start in range(0, len(messages), DECODE_SLICE):
                if start:
                    await asyncio.sleep(0)
                for message in messages[start:start + DECODE_SLICE]:
                    try:
                        row = event_row(self.codec.decode(DELIVERY, message.value()))
                    except DecodeError as exc:
                        rejected.append(self.dead_letters.poison(message, "undecodable", str(exc)))
                        continue
                    except (ValueError, TypeError, ArithmeticError) as exc:  # ids or times that are not
                        rejected.append(self.dead_letters.poison(message, "invalid_event", describe(exc)))
                        continue
                    if (problem := row_problem(row)) is not None:
                        rejected.append(self.dead_letters.poison(message, "invalid_event", problem))
                        continue
                    rows.append(safe_text(row))
        if rows:
            written = asyncio.get_running_loop().create_future()
            self._pending.append((rows, written))
            async with self._writing:
                if not written.done():  # no earlier writer took ours along: write everything waiting
                    await self._write_pending()
            await written  # raises if the transaction that carried these rows failed
        await asyncio.gather(*rejected)

    async def quarantine(self, raw: Message, exc: BaseException) -> None:
        """A message whose handling kept raising. Never a dead letter back onto the dead-letter
        topic (the sink would read it again, forever): that one stays on the topic unlisted."""
        if raw.topic() == self.dlq_topic:
            log.error("sink: cannot record the dead letter %s[%d]@%d (%s); it stays on the topic but is not "
                      "listed", raw.topic(), raw.partition(), raw.offset(), describe(exc))
            return
        await self.dead_letters.send(raw, reason="internal_error", error_class=type(exc).__name__,
                                     error_message=describe(exc))

    async def _write_pending(self) -> None:
        taken, self._pending = self._pending, []
        try:
            failure = await self._write(taken)
            if failure is not None and len(taken) > 1 and dependency_of(failure) is None:
                # Something in the rows, not Postgres: write each batch alone, so only the one
                # that holds it fails (and the runtime isolates the message within it).
                for one in taken:
                    if (alone := await self._write([one])) is not None and not one[1].done():
                        one[1].set_exception(alone)
            elif failure is not None:
                for _, written in taken:
                    if not written.done():
                        written.set_exception(failure)
        except asyncio.CancelledError:
            for _, written in taken:
                if not written.done():
                    written.cancel()
            raise

    async def _write(self, taken: list[tuple[list[tuple], asyncio.Future]]) -> BaseException | None:
        """One transaction for these batches; resolves their futures on success. Returns the error
        otherwise (futures left open), after dropping a connection that may be broken or frozen."""
        rows = [row for batch, _ in taken for row in batch]
        started = time.monotonic()
        try:
            log_ = await self._connected()
            new = await log_.record_rows_within(rows, self.settings.sink_write_timeout_s)
        except Exception as exc:
            if dependency_of(exc) is not None:
                await self._disconnect(exc)
            return exc
        self.metrics.sink_write_seconds.labels(self.name).observe(time.monotonic() - started)
        self.metrics.sink_events.labels(self.name, "new").inc(new)
        self.metrics.sink_events.labels(self.name, "duplicate").inc(len(rows) - new)
        for _, written in taken:
            if not written.done():  # a handler cancelled at shutdown no longer waits
                written.set_result(None)
        return None

    async def _connected(self) -> DeliveryLog:
        if self.log is None or self.log.conn.closed:
            self.log = await DeliveryLog.connect(self.settings.database_url)
            log.info("sink: connected to Postgres")
        return self.log

    async def _disconnect(self, exc: BaseException) -> None:
        """Postgres is gone or not answering: forget the connection (a frozen server may never
        answer on it); the runtime retries the batch with backoff on a new one."""
        log.warning("sink: Postgres write failed (%s); reconnecting", describe(exc))
        if self.log is not None:
            self.log.abandon()
