"""Slack threads across notifications for channels/slack/provider.py: (thread_key, channel) -> the ts of the
first message, kept in Postgres (slack_threads, migration 004) or, without a database, in memory."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator, Protocol

log = logging.getLogger(__name__)


class ThreadStore(Protocol):
    async def start(self) -> None: ...
    async def get(self, thread_key: str, channel: str) -> str | None: ...
    async def put(self, thread_key: str, channel: str, ts: str) -> str: ...
    async def close(self) -> None: ...


class MemoryThreads:
    """In-process only: threads survive neither a restart nor a second worker."""

    def __init__(self) -> None:
        self.ts: dict[tuple[str, str], str] = {}

    async def start(self) -> None:
        log.warning("TIDINGS_DATABASE_URL is not set: Slack thread keys are kept in memory only, "
                    "so a restart or another worker starts a new thread")

    async def get(self, thread_key: str, channel: str) -> str | None:
        return self.ts.get((thread_key, channel))

    async def put(self, thread_key: str, channel: str, ts: str) -> str:
        return self.ts.setdefault((thread_key, channel), ts)

    async def close(self) -> None:
        pass


class PostgresThreads:
    """The slack_threads table; the first ts recorded for a key wins, also across processes."""

    def __init__(self, conninfo: str, max_connections: int = 4):
        self.conninfo = conninfo
        self.max_connections = max_connections
        self.pool = None

    async def start(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(self.conninfo, min_size=1, max_size=self.max_connections,
                                        kwargs={"autocommit": True}, open=False)
        await self.pool.open(wait=True, timeout=30)

    async def get(self, thread_key: str, channel: str) -> str | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT ts FROM slack_threads WHERE thread_key = %s AND channel = %s", [thread_key, channel])).fetchone()
        return row[0] if row else None

    async def put(self, thread_key: str, channel: str, ts: str) -> str:
        async with self.pool.connection() as conn:
            await conn.execute("INSERT INTO slack_threads (thread_key, channel, ts) VALUES (%s, %s, %s) "
                               "ON CONFLICT (thread_key, channel) DO NOTHING", [thread_key, channel, ts])
            row = await (await conn.execute(
                "SELECT ts FROM slack_threads WHERE thread_key = %s AND channel = %s", [thread_key, channel])).fetchone()
        return row[0]

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def thread_store(database_url: str | None) -> ThreadStore:
    return PostgresThreads(database_url) if database_url else MemoryThreads()


class ThreadStarts:
    """One in-process lock per (thread_key, channel) while its first message is being posted, so
    notifications sent at once with a new key end up in one thread instead of several."""

    def __init__(self) -> None:
        self.locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def first(self, thread_key: str, channel: str) -> AsyncIterator[None]:
        key = (thread_key, channel)
        lock, users = self.locks.get(key, (asyncio.Lock(), 0))
        self.locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self.locks[key]
            if users == 1:
                del self.locks[key]
            else:
                self.locks[key] = (lock, users - 1)
