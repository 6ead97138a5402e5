"""`tidings run sink`: consume tidings.deliveries into Postgres, idempotent on the DeliveryEvent
id (re-reading the topic from offset 0 changes nothing). Group commit: batches fetched while a
write is running are written together in the next transaction, so under load transactions grow
instead of queueing up one small batch each."""
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
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics
from tracking.migrate import migrate
from tracking.stats import dead_lettered_count
from tracking.store import DeliveryLog, event_row


log = logging.getLogger(__name__)

# How often the sink refreshes tidings_dead_lettered_deliveries (one indexed count in Postgres).
DEPTH_REFRESH_S = 15.0

# Messages decoded between yields to the event loop (~0.7 ms of fastavro): the writer waits at
# most one slice per round trip (100 measured slower in bench.sink, 250 slower still).
DECODE_SLICE = 50


class SinkService:
    name = "sink"

    def __init__(self, settings: Settings, metrics: ServiceMetrics):
        self.settings = settings
        self.metrics = metrics
        self.codec = Codec.from_settings(settings)
        self.group_id = f"{settings.group_prefix}.sink"
        self.topics = [Topics(settings.topic_prefix).deliveries]
        self.batch_size = settings.sink_batch_size
        # Room for many batches while one is written (delivery events are small): with in-flight
        # near one batch the stream pauses after every batch and then waits for the first fetch
        # after resume (0.02 s to about a second on Tansu, see README); measured 4,300 rows/s at 4
        # batches, 9,400 at 20 (bench.sink, before the decode and COPY changes).
        self.max_in_flight = max(settings.max_in_flight, 20 * self.batch_size)
        self.log: DeliveryLog | None = None
        self.publisher: Publisher | None = None
        self.dead_letters: DeadLetters | None = None
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
        self.publisher = Publisher.from_settings(self.settings)
        self.dead_letters = DeadLetters(self.publisher, Topics(self.settings.topic_prefix), self.group_id,
                                        self.name, self.metrics)
        self._depth_watch = asyncio.create_task(self._watch_depth())

    async def _watch_depth(self) -> None:
        """tidings_dead_lettered_deliveries every DEPTH_REFRESH_S, whether batches arrive or not."""
        while True:
            try:
                async with self._writing:
                    depth = await dead_lettered_count(self.log.conn)
                self.metrics.dlq_depth.labels(self.name).set(depth)
            except psycopg.Error as exc:  # the next batch's write reports a lost connection loudly
                log.warning("cannot count dead-lettered deliveries: %s", exc)
            await asyncio.sleep(DEPTH_REFRESH_S)

    async def close(self) -> None:
        if self._depth_watch is not None:
            self._depth_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depth_watch
        if self.log is not None:
            await self.log.close()
        if self.publisher is not None:
            self.publisher.close()

    async def handle(self, messages: list[Message]) -> None:
        rows, rejected = [], []
        async with self._decoding:
            for start in range(0, len(messages), DECODE_SLICE):
                if start:
                    await asyncio.sleep(0)
                for message in messages[start:start + DECODE_SLICE]:
                    try:
                        rows.append(event_row(self.codec.decode(DELIVERY, message.value())))
                    except DecodeError as exc:
                        rejected.append(self.dead_letters.poison(message, "undecodable", str(exc)))
        if rows:
            written = asyncio.get_running_loop().create_future()
            self._pending.append((rows, written))
            async with self._writing:
                if not written.done():  # no earlier writer took ours along: write everything waiting
                    await self._write_pending()
            await written  # raises if the transaction that carried these rows failed
        await asyncio.gather(*rejected)

    async def _write_pending(self) -> None:
        taken, self._pending = self._pending, []
        rows = [row for batch, _ in taken for row in batch]
        try:
            started = time.monotonic()
            new = await self.log.record_rows(rows)
        except asyncio.CancelledError:
            for _, written in taken:
                written.cancel()
            raise
        except Exception as exc:  # every handler whose events were in it fails (nothing is stored)
            for _, written in taken:
                written.set_exception(exc)
            return
        self.metrics.sink_write_seconds.labels(self.name).observe(time.monotonic() - started)
        self.metrics.sink_events.labels(self.name, "new").inc(new)
        self.metrics.sink_events.labels(self.name, "duplicate").inc(len(rows) - new)
        for _, written in taken:
            written.set_result(None)
