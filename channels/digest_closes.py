"""Digests, the channel worker's side: a digest's close marker (tidings-digest) that came due and was
released once (channels/held_releases.py) closes its digest in Postgres and is sent as the digest's
message the router rendered (router/digests.py); once sent, each folded delivery records `sent` too."""
from __future__ import annotations

import asyncio

import psycopg
from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.codec import Codec
from consumer.events import Clock, delivery_event
from consumer.postgres import connect_async

# coalesce: the same marker redone after a crash before its commit (the release lets only that one
# position through) finds the digest closed by itself and sends it again, as any redone message.
_CLOSE = "UPDATE digests SET closed_at = coalesce(closed_at, now()) WHERE digest_id = %s RETURNING message"
_ITEMS = "SELECT item FROM digest_items WHERE digest_id = %s ORDER BY added_at, delivery_id"


def digest_of(message: Message) -> str | None:
    """The digest id a close marker carries; None for every other message."""
    for key, value in message.headers() or ():
        if key == h.DIGEST:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return None


def is_digest(message: dict) -> bool:
    """A digest's ChannelMessage is its own notification (an ordinary delivery id never equals its
    notification id: consumer/events.delivery_id), through its retries and replays too."""
    return str(message["delivery_id"]) == str(message["notification_id"])


class DigestCloses:
    """One connection, made when first needed (only a worker that meets a digest needs it)."""

    def __init__(self, database_url: str | None, codec: Codec, clock: Clock):
        self.database_url = database_url
        self.codec = codec
        self.clock = clock
        self.conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def close_digest(self, digest_id: str) -> bytes | None:
        """Closes the digest (no item joins it after this) and answers its message; None when
        there is no such digest (nothing to send)."""
        row = await self._one(_CLOSE, digest_id)
        return row[0] if row else None

    async def sent_items(self, digest: dict, **fields) -> list[dict]:
        """The `sent` DeliveryEvents of the deliveries folded into a digest that was sent."""
        async with self._lock:
            conn = await self._connected()
            items = [i for (i,) in await (await conn.execute(_ITEMS, [digest["delivery_id"]])).fetchall()]
        note = f"sent in digest {digest['delivery_id']}"
        return [delivery_event({**digest, **{k: item[k] for k in ("delivery_id", "notification_id", "priority",
                                                                 "source", "category")}},
                               "sent", clock=self.clock, **{**fields, "error_message": note}) for item in items]

    async def _one(self, query: str, digest_id: str):
        async with self._lock:
            conn = await self._connected()
            return await (await conn.execute(query, [digest_id])).fetchone()

    async def _connected(self) -> psycopg.AsyncConnection:
        if not self.database_url:
            raise RuntimeError("digests need TIDINGS_DATABASE_URL in the channel worker")
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = await connect_async(self.database_url)
        return self.conn

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

