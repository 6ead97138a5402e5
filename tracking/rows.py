"""Rows from the delivery log as plain JSON-ready values, for the CLI (`--json`) and the gateway.

The read-side modules (timeline, summary) run their SQL through these on a sync or async psycopg
connection, so one query serves both without a second copy."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Sequence

import psycopg
from psycopg.rows import dict_row

Query = tuple[str, dict[str, Any]]


def plain(value: Any) -> Any:
    """datetime -> ISO 8601, uuid -> str, Decimal -> float; everything else as it is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def plain_row(row: dict) -> dict:
    return {key: plain(value) for key, value in row.items()}


def fetch_all(conn: psycopg.Connection, queries: Sequence[Query]) -> list[list[dict]]:
    """Run each query on a sync connection; its rows as plain dicts."""
    results = []
    with conn.cursor(row_factory=dict_row) as cur:
        for sql, params in queries:
            cur.execute(sql, params)
            results.append([plain_row(row) for row in cur.fetchall()])
    return results


async def fetch_all_async(conn: psycopg.AsyncConnection, queries: Sequence[Query]) -> list[list[dict]]:
    """The same on an async connection."""
    results = []
    async with conn.cursor(row_factory=dict_row) as cur:
        for sql, params in queries:
            await cur.execute(sql, params)
            results.append([plain_row(row) for row in await cur.fetchall()])
    return results
