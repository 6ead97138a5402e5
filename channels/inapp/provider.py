"""The inbox "provider": writes each delivery into the Postgres inbox (channels/inapp/inbox.py),
once per delivery id however often the message is redone, and announces it for live streams.
Postgres is this channel's own dependency: when it is away the worker holds, as for the broker."""
from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from channels.inapp import inbox
from channels.inapp.item import item_of
from channels.inapp.settings import InappSettings
from consumer.outcomes import Delivered, Outcome, Permanent
from consumer.settings import Settings, SettingsError

# Longest wait for a free connection before the worker treats Postgres as away.
CONNECTION_WAIT_S = 10.0


class InboxProvider:
    name = "inbox"

    def __init__(self, settings: Settings):
        if not settings.database_url:
            raise SettingsError("the inapp channel writes the inbox into Postgres: set TIDINGS_DATABASE_URL")
        own = settings.section(InappSettings)
        self.max_body_chars = own.inapp_max_body_chars
        self.concurrency = own.inapp_pool_size
        self.pool = AsyncConnectionPool(settings.database_url, min_size=1, max_size=own.inapp_pool_size, open=False,
                                        kwargs={"autocommit": True}, timeout=CONNECTION_WAIT_S)

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def send(self, message: dict) -> Outcome:
        item = item_of(message, self.max_body_chars)
        if isinstance(item, Permanent):
            return item
        try:
            async with self.pool.connection() as conn:
                seq = await inbox.write(conn, item)
        except PoolTimeout as exc:  # no connection could be made: the runtime holds the stage
            raise psycopg.OperationalError(f"no Postgres connection for the inbox: {exc}") from None
        # A redone message finds its item already there: the same delivery, sent once.
        return Delivered(provider_message_id=str(seq) if seq is not None else None)
