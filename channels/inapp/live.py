"""Live inbox updates for one gateway process: one Postgres connection LISTENs on `inbox_changes`
(channels/inapp/inbox.py NOTIFYs at every write and mark, whichever process made it), and each
announcement is passed to the streams open for that tenant and recipient. Bounded per recipient
and in total; a stream that cannot keep up is closed (its client resumes with Last-Event-ID)."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import psycopg

from channels.inapp.inbox import NOTIFY_CHANNEL, Inbox, Reader
from consumer.outages import Backoff
from consumer.postgres import connect_async

log = logging.getLogger(__name__)

RESYNC = ("resync", None)  # the listener reconnected: announcements may have been missed
CLOSED = ("closed", None)  # this stream fell behind: end it
QUEUE = 256  # events one stream may have waiting


@dataclass(eq=False)
class Stream:
    reader: Reader
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE))

    def offer(self, event: tuple) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # make room for the one event that ends it
            self.queue.get_nowait()
            self.queue.put_nowait(CLOSED)


class StreamRefused(Exception):
    """Too many streams open: for this recipient, or on this process."""


class LiveInbox:
    def __init__(self, conninfo: str, pool, per_recipient: int, total: int):
        self.conninfo = conninfo
        self.pool = pool  # queries for what an announcement names
        self.per_recipient = per_recipient
        self.total = total
        self.streams: dict[Reader, set[Stream]] = {}
        self.open = 0
        self.listening = asyncio.Event()

    def subscribe(self, reader: Reader) -> Stream:
        mine = self.streams.get(reader, set())
        if len(mine) >= self.per_recipient:
            raise StreamRefused(f"this recipient has {len(mine)} live streams open here "
                                "(TIDINGS_INAPP_STREAM_MAX_PER_RECIPIENT)")
        if self.open >= self.total:
            raise StreamRefused(f"{self.open} live streams are open on this gateway (TIDINGS_INAPP_STREAM_MAX_TOTAL)")
        stream = Stream(reader)
        self.streams.setdefault(reader, set()).add(stream)
        self.open += 1
        return stream

    def unsubscribe(self, stream: Stream) -> None:
        mine = self.streams.get(stream.reader)
        if mine is not None and stream in mine:
            mine.discard(stream)
            self.open -= 1
            if not mine:
                del self.streams[stream.reader]

    async def run(self) -> None:
        """Listen until cancelled; reconnect with backoff when Postgres goes away."""
        backoff, failures = Backoff(cap_s=10.0), 0
        while True:
            try:
                async with await connect_async(self.conninfo) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    if failures:  # announcements made while away were missed
                        self._everyone(RESYNC)
                    failures = 0
                    self.listening.set()
                    async for note in conn.notifies():
                        await self._announce(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                failures += 1
                wait = backoff.delay(failures)
                log.warning("inbox live updates: lost Postgres (%s); listening again in %.1f s", exc, wait)
                await asyncio.sleep(wait)

    def _everyone(self, event: tuple) -> None:
        for streams in self.streams.values():
            for stream in streams:
                stream.offer(event)

    async def _announce(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            reader = Reader(note["t"], note["r"])
        except (ValueError, KeyError, TypeError):
            log.warning("inbox live updates: ignored an announcement that is not Tidings' own")
            return
        streams = self.streams.get(reader)
        if not streams:
            return  # nobody here is watching this inbox
        try:
            async with self.pool.connection() as conn:
                inbox = Inbox(conn)
                if "seq" in note:
                    found = await inbox.by_seq([int(note["seq"])])
                    events = [("item", item) for _, item in found.values()]
                elif note.get("id"):
                    item = await inbox.item(reader, note["id"])
                    events = [("state", item)] if item else []
                else:
                    events = []
                events.append(("counts", await inbox.counts(reader)))
        except psycopg.Error as exc:
            log.warning("inbox live updates: cannot read an announced change (%s); streams resync", exc)
            events = [RESYNC]
        for stream in list(self.streams.get(reader, ())):
            for event in events:
                stream.offer(event)
