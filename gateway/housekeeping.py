"""Periodic clean-up of the gateway's own state in Postgres: Idempotency-Key claims past their
time to live, rate-limit rows whose allowance is whole again (equivalent to no row), and used
unsubscribe links a day after they expired (the expired token is refused anyway)."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

INTERVAL_S = 600.0


async def prune(pool, now: datetime, idempotency_ttl_s: float) -> tuple[int, int, int]:
    async with pool.connection() as conn:
        keys = await conn.execute("DELETE FROM gateway_idempotency WHERE created_at < %s",
                                  [now - timedelta(seconds=idempotency_ttl_s)])
        limits = await conn.execute("DELETE FROM gateway_rate_limits WHERE tat < %s", [now])
        links = await conn.execute("DELETE FROM unsubscribe_link_uses WHERE expires_at < %s", [now - timedelta(days=1)])
        return keys.rowcount, limits.rowcount, links.rowcount


async def prune_forever(gateway, interval_s: float = INTERVAL_S) -> None:
    while True:
        try:
            await prune(gateway.pool, gateway.clock(), gateway.settings.section(GatewaySettings).gateway_idempotency_ttl_s)
        except Exception:  # Postgres away for a while: try again next round, the rows only wait
            log.warning("gateway housekeeping failed; will retry", exc_info=True)
        await asyncio.sleep(interval_s)
