"""Expired Idempotency-Key claims, spent rate-limit rows, used unsubscribe links that expired and
receipts that matched no delivery within the window are pruned; live ones stay."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.housekeeping import prune


def test_prune_removes_only_what_is_over(pipeline):
    now = datetime.now(timezone.utc)
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO gateway_idempotency (principal, key, request_hash, created_at) VALUES"
                     " ('a', 'old', 'h', %s), ('a', 'new', 'h', %s)", [now - timedelta(days=2), now - timedelta(hours=1)])
        conn.execute("INSERT INTO gateway_rate_limits (principal, channel, tat) VALUES"
                     " ('a', 'email', %s), ('a', 'sms', %s)", [now - timedelta(seconds=1), now + timedelta(minutes=5)])
        conn.execute("INSERT INTO unsubscribe_link_uses (link_id, recipient_id, channel, category, expires_at) VALUES"
                     " ('expired', 'u', '*', '*', %s), ('live', 'u', '*', '*', %s)",
                     [now - timedelta(days=2), now + timedelta(days=3)])
        conn.execute("INSERT INTO receipts (receipt_id, source, channel, status, occurred_at, received_at, next_match_at,"
                     " provider_message_id, recorded_at) VALUES"
                     " ('lost', 'ses', 'email', 'bounced', %(old)s, %(old)s, %(old)s, 'm1', NULL),"
                     " ('recorded', 'ses', 'email', 'bounced', %(old)s, %(old)s, %(old)s, 'm2', %(old)s),"
                     " ('waiting', 'ses', 'email', 'bounced', %(now)s, %(now)s, %(now)s, 'm3', NULL)",
                     {"old": now - timedelta(days=8), "now": now})

    async def run():
        async with AsyncConnectionPool(pipeline.database_url, open=False) as pool:
            return await prune(pool, now, idempotency_ttl_s=86400)
    assert asyncio.run(run()) == (1, 1, 1, 1)
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT key FROM gateway_idempotency").fetchall() == [("new",)]
        assert conn.execute("SELECT channel FROM gateway_rate_limits").fetchall() == [("sms",)]
        assert conn.execute("SELECT link_id FROM unsubscribe_link_uses").fetchall() == [("live",)]
        # Given up after the 7-day default window; a recorded receipt stays (`tidings db prune` removes it).
        assert conn.execute("SELECT receipt_id FROM receipts ORDER BY receipt_id").fetchall() == [
            ("recorded",), ("waiting",)]
