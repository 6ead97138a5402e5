"""Webhook endpoints disabled by a 410 Gone: the receiver said the URL is gone for good, so later
deliveries to it are not attempted but recorded as `suppressed` (reason `endpoint_disabled`), until
an operator runs `tidings endpoints enable URL`.

Kept in Postgres (disabled_webhook_endpoints, migration 005) so every worker and restart agrees;
each worker re-reads the table every `webhook_endpoints_refresh_s`, so enabling needs no restart.
Without a database the set lives in the worker's memory only."""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

SELECT = "SELECT url, disabled_at, status_code, reason, delivery_id FROM disabled_webhook_endpoints ORDER BY disabled_at"
INSERT = ("INSERT INTO disabled_webhook_endpoints (url, status_code, reason, delivery_id) "
          "VALUES (%s, %s, %s, %s) ON CONFLICT (url) DO NOTHING")
DELETE = "DELETE FROM disabled_webhook_endpoints WHERE url = %s"


class DisabledEndpoints:
    def __init__(self, database_url: str | None, refresh_s: float = 5.0):
        self.database_url = database_url
        self.refresh_s = refresh_s
        self.urls: set[str] = set()
        self.pool = None
        self.refresher: asyncio.Task | None = None

    async def start(self) -> None:
        if not self.database_url:
            log.warning("TIDINGS_DATABASE_URL is not set: webhook endpoints disabled by 410 are remembered "
                        "by this worker only, until it restarts")
            return
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(self.database_url, min_size=1, max_size=2,
                                        kwargs={"autocommit": True}, open=False)
        await self.pool.open(wait=True, timeout=30)
        await self.refresh()
        self.refresher = asyncio.create_task(self._refresh_forever())

    def is_disabled(self, url: str) -> bool:
        return url in self.urls

    async def disable(self, url: str, status_code: int, reason: str, delivery_id: str) -> None:
        self.urls.add(url)
        log.warning("webhook endpoint %s answered %s: disabled until `tidings endpoints enable`", url, status_code)
        if self.pool is not None:
            async with self.pool.connection() as conn:
                await conn.execute(INSERT, [url, status_code, reason[:500], delivery_id])

    async def refresh(self) -> None:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute("SELECT url FROM disabled_webhook_endpoints")).fetchall()
        self.urls = {url for (url,) in rows}

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # keep the last known set; the next round tries again
                log.warning("could not re-read disabled webhook endpoints: %s", exc)

    async def close(self) -> None:
        if self.refresher is not None:
            self.refresher.cancel()
        if self.pool is not None:
            await self.pool.close()
