"""Read-side queries over the delivery log: what `tidings stats`, the demo and the tests ask.

Each takes an open psycopg AsyncConnection; nothing here writes.
"""
from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import psycopg

from consumer.statuses import FINAL_STATUSES, HELD_STATUSES
# The windowed statistics and the notification timeline live in their own modules; re-exported
# here so callers (the CLI, the HTTP gateway) find every read-side query in one place.
from tracking.summary import GROUPABLE, delivery_stats, delivery_stats_async  # noqa: F401
from tracking.timeline import notification_status, timeline, timeline_async  # noqa: F401

_FINAL = sorted(FINAL_STATUSES)


def _uuids(ids: Iterable[str | UUID]) -> list[str]:
    # One element type, so psycopg sends a single text[] that the query casts to uuid[].
    return [str(i) for i in ids]


async def event_count(conn: psycopg.AsyncConnection) -> int:
    """How many DeliveryEvents the log holds."""
    cur = await conn.execute("SELECT count(*) FROM delivery_events")
    return (await cur.fetchone())[0]


async def dead_lettered_count(conn: psycopg.AsyncConnection) -> int:
    """Deliveries whose current status is dead_lettered (tidings_dead_lettered_deliveries)."""
    cur = await conn.execute("SELECT count(*) FROM deliveries WHERE status = 'dead_lettered'")
    return (await cur.fetchone())[0]


# The deliveries held until due_at whose current status is still `scheduled` or `deferred`: a later
# status (sent, cancelled, ...) replaces it in the fold, so what is left past due is overdue work.
_HELD = """
SELECT status, count(*),
       count(*) FILTER (WHERE due_at < now() - make_interval(secs => %(grace)s)),
       coalesce(extract(epoch FROM now() - min(due_at) FILTER (
           WHERE due_at < now() - make_interval(secs => %(grace)s))), 0)
FROM deliveries WHERE status = ANY(%(held)s) GROUP BY status
"""


async def held_counts(conn: psycopg.AsyncConnection, overdue_after_s: float) -> dict[str, tuple[int, int, float]]:
    """status -> (held, overdue, seconds the oldest overdue one is past due) for scheduled and
    deferred (tidings_held_deliveries and the overdue gauges); one indexed scan of the held rows."""
    cur = await conn.execute(_HELD, {"grace": overdue_after_s, "held": list(HELD_STATUSES)})
    found = {status: (held, overdue, float(age)) for status, held, overdue, age in await cur.fetchall()}
    return {status: found.get(status, (0, 0, 0.0)) for status in HELD_STATUSES}


async def status_counts(conn: psycopg.AsyncConnection) -> dict[str, int]:
    """Deliveries by current status."""
    cur = await conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")
    return {status: count for status, count in await cur.fetchall()}


async def count_final(
    conn: psycopg.AsyncConnection, notification_ids: Iterable[str | UUID] | None = None
) -> int:
    """Deliveries whose current status is final, optionally only those of some notifications."""
    if notification_ids is None:
        cur = await conn.execute(
            "SELECT count(*) FROM deliveries WHERE status = ANY(%s)", [_FINAL]
        )
    else:
        cur = await conn.execute(
            "SELECT count(*) FROM deliveries"
            " WHERE status = ANY(%s) AND notification_id = ANY(%s::uuid[])",
            [_FINAL, _uuids(notification_ids)],
        )
    return (await cur.fetchone())[0]


async def current_statuses(
    conn: psycopg.AsyncConnection, notification_ids: Iterable[str | UUID]
) -> dict[str, list[str]]:
    """Current status of every delivery of each notification, sorted; absent when none recorded."""
    cur = await conn.execute(
        "SELECT notification_id::text, array_agg(status ORDER BY status) FROM deliveries"
        " WHERE notification_id = ANY(%s::uuid[]) GROUP BY notification_id",
        [_uuids(notification_ids)],
    )
    return {notification_id: statuses for notification_id, statuses in await cur.fetchall()}


async def final_statuses(
    conn: psycopg.AsyncConnection, notification_ids: Iterable[str | UUID]
) -> dict[str, list[str]]:
    """Like current_statuses, but only deliveries that reached a final status."""
    statuses = await current_statuses(conn, notification_ids)
    finals = {n: [s for s in ss if s in FINAL_STATUSES] for n, ss in statuses.items()}
    return {n: ss for n, ss in finals.items() if ss}


async def delivery_state(conn: psycopg.AsyncConnection, delivery_id: str | UUID) -> dict | None:
    """The deliveries row of one delivery as a dict, or None if no event was recorded for it."""
    async with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        await cur.execute("SELECT * FROM deliveries WHERE delivery_id = %s", [str(delivery_id)])
        return await cur.fetchone()


async def dead_lettered(conn: psycopg.AsyncConnection, channel: str | None = None) -> list[dict]:
    """Deliveries whose current status is dead_lettered, oldest first: what `tidings dlq` lists."""
    async with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        await cur.execute(
            "SELECT delivery_id, notification_id, channel, error_class, error_message, stage, reason,"
            " attempts, replay, status_at"
            " FROM deliveries WHERE status = 'dead_lettered'"
            " AND (%(channel)s::text IS NULL OR channel = %(channel)s)"
            " ORDER BY status_at, delivery_id",
            {"channel": channel},
        )
        return await cur.fetchall()


# Same tie-breaks as the current-state fold, so the last row is the current status. Found through
# its notification: delivery_events has no index on delivery_id (migration 022).
DELIVERY_STORY = """
SELECT event_id, occurred_at, status, attempt, replay, retry_tier, due_at, stage, reason, provider, status_code,
       error_class, error_message
FROM delivery_events
WHERE delivery_id = %(delivery)s
  AND notification_id = (SELECT notification_id FROM deliveries WHERE delivery_id = %(delivery)s)
ORDER BY occurred_at, status = ANY(%(final)s), event_id
"""


async def delivery_story(conn: psycopg.AsyncConnection, delivery_id: str | UUID) -> list[dict]:
    """Every event of one delivery in the order it happened; empty if none was recorded."""
    async with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        await cur.execute(DELIVERY_STORY, {"delivery": str(delivery_id), "final": _FINAL})
        return await cur.fetchall()
