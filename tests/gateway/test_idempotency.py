"""Idempotency-Key claims on a real Postgres: the first request owns the key, a concurrent retry is
told to wait (409), a finished one is answered again, another body is refused, a failure releases."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from psycopg_pool import AsyncConnectionPool

from gateway import idempotency
from gateway.errors import ApiError


def test_claim_lifecycle(pipeline):
    now = datetime.now(timezone.utc)

    async def run():
        async with AsyncConnectionPool(pipeline.database_url, open=False, kwargs={"autocommit": True}) as pool:
            claim = lambda digest, at=now: idempotency.claim(pool, "billing", "k1", digest, at, ttl_s=3600)  # noqa: E731
            assert await claim("h1") is None                      # this request owns the key
            with pytest.raises(ApiError) as in_progress:
                await claim("h1")
            assert in_progress.value.status == 409 and in_progress.value.headers["Retry-After"]
            await idempotency.complete(pool, "billing", "k1", {"id": "n-1"})
            assert await claim("h1") == {"id": "n-1"}             # answered again
            with pytest.raises(ApiError) as other_body:
                await claim("h2")
            assert other_body.value.status == 422
            assert await claim("h2", now + timedelta(hours=2)) is None   # expired: a new request
            await idempotency.release(pool, "billing", "k1")
            assert await claim("h3") is None                      # released: claimable again
            assert await idempotency.claim(pool, "crm", "k1", "h1", now, 3600) is None  # per principal
    asyncio.run(run())
