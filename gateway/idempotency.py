"""Idempotency-Key: the first request with a key claims it (per principal); a retry with the same
key and body gets the first answer again, with the same notification ids, and publishes nothing."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from psycopg.types.json import Jsonb

from gateway.errors import ApiError

_NAMESPACE = uuid.UUID("0b6f2c7e-3d5a-4c1e-9a8b-7e2d1f4c6a90")


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def notification_id(principal: str, key: str, index: int) -> str:
    """Ids derived from the key, so even a lost claim yields the same ids on retry."""
    return str(uuid.uuid5(_NAMESPACE, f"{principal}/{key}/{index}"))


async def claim(pool, principal: str, key: str, digest: str, now: datetime, ttl_s: float) -> dict | None:
    """None when this request now owns the key; the stored answer when it was already given."""
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM gateway_idempotency WHERE principal = %s AND key = %s AND created_at < %s",
                           [principal, key, now - timedelta(seconds=ttl_s)])
        cur = await conn.execute("INSERT INTO gateway_idempotency (principal, key, request_hash, created_at)"
                                 " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                                 [principal, key, digest, now])
        if await cur.fetchone():
            return None
        cur = await conn.execute("SELECT request_hash, response FROM gateway_idempotency"
                                 " WHERE principal = %s AND key = %s", [principal, key])
        row = await cur.fetchone()
    if row is None:  # expired and removed between the two statements: treat as in progress
        raise ApiError(409, "a request with this Idempotency-Key is in progress", "Idempotency-Key")
    if row[0] != digest:
        raise ApiError(422, "Idempotency-Key was used before with a different request body", "Idempotency-Key")
    if row[1] is None:
        raise ApiError(409, "a request with this Idempotency-Key is in progress; retry later", "Idempotency-Key",
                       headers={"Retry-After": "1"})
    return row[1]


async def complete(pool, principal: str, key: str, answer: dict) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE gateway_idempotency SET response = %s WHERE principal = %s AND key = %s",
                           [Jsonb(answer), principal, key])


async def release(pool, principal: str, key: str) -> None:
    """The request failed: a retry with the key should try again, not get this failure."""
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM gateway_idempotency WHERE principal = %s AND key = %s AND response IS NULL",
                           [principal, key])
