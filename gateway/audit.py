"""The audit log: one append-only Postgres row per mutating call (principal, action, target,
outcome, time, request id), written before the answer leaves; read by `tidings audit`
(tracking/audit_log.py)."""
from __future__ import annotations

import logging
from datetime import datetime

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_INSERT = ("INSERT INTO audit_log (at, request_id, principal, action, target, outcome, status_code, detail)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "unauthenticated", 403: "forbidden", 413: "too_large", 429: "rate_limited"}.get(
        status, "rejected" if status < 500 else "failed")


async def record(pool, *, at: datetime, request_id: str, principal: str | None, action: str,
                 target: str | None, status: int, detail: str | None) -> None:
    values = [_text(principal), _text(action), _text(target), outcome_of(status), status, _text(detail)]
    async with pool.connection() as conn:
        await conn.execute(_INSERT, [at, request_id, *values])


def _text(value: str | None, limit: int = 1000) -> str | None:
    """Postgres text holds no NUL; the caller's input may."""
    return value[:limit].replace("\x00", "\\0") if value else None
