"""Periodic clean-up of the gateway's own state in Postgres: Idempotency-Key claims past their
time to live, rate-limit rows whose allowance is whole again (equivalent to no row), used
unsubscribe links a day after they expired (the expired token is refused anyway), and receipts
that matched no delivery within the match window (gateway/receipts.py)."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from gateway.settings import GatewaySettings
from tracking.receipt_store import forget_unmatched

log = logging.getLogger(__name__)

INTERVAL_S = 600.0


async def prune(pool, now: datetime, idempotency_ttl_s: float,
                receipt_window_s: float = GatewaySettings.model_fields["gateway_receipt_match_window_s"].default
                ) -> tuple[int, int, int, int]:
    async with pool.connection() as conn:
        keys = await conn.execute("DELETE FROM gateway_idempotency WHERE created_at < %s",
                                  [now - timedelta(seconds=idempotency_ttl_s)])
        limits = await conn.execute("DELETE FROM gateway_rate_limits WHERE tat < %s", [now])
        links = await conn.execute("DELETE FROM unsubscribe_link_uses WHERE expires_at < %s", [now - timedelta(days=1)])
        receipts = await forget_unmatched(conn, now, receipt_window_s)
        if receipts:
            log.info("%d receipts matched no delivery within %gs: given up", receipts, receipt_window_s)
        return keys.rowcount, limits.rowcount, links.rowcount, receipts


async def prune_forever(gateway, interval_s: float = INTERVAL_S) -> None:
    own = gateway.settings.section(GatewaySettings)
    while True:
        try:
            await prune(gateway.pool, gateway.clock(), own.gateway_idempotency_ttl_s,
                        own.gateway_receipt_match_window_s)
        except Exception:  # Postgres away for a while: try again next round, the rows only wait
            log.warning("gateway housekeeping failed; will retry", exc_info=True)
        await asyncio.sleep(interval_s)
