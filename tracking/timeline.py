"""The story of one notification: every DeliveryEvent of every channel, in order (receipts after
`sent`: delivered, undelivered, bounced, complained), and the notification's current status. Read
by `tidings status` and the HTTP gateway."""
from __future__ import annotations

import uuid

import psycopg

from tracking.rows import Query, fetch_all, fetch_all_async
from consumer.statuses import FINAL_STATUSES

# Same tie-breaks as the current-state fold (tracking/store.py), so each channel's last row is its
# current status.
_TIMELINE = """
SELECT occurred_at, channel, delivery_id, status, attempt, replay, retry_tier, due_at, provider,
       status_code, error_class, error_message, stage, reason, latency_ms, cost, cost_currency,
       provider_message_id, event_id
FROM delivery_events
WHERE notification_id = %(notification_id)s
ORDER BY channel, occurred_at, status = ANY(%(final)s), event_id
"""

_STATUS = """
SELECT notification_id, status, deliveries, sent, undelivered, bounced, complained, failed, suppressed, expired,
       created_at, updated_at
FROM notification_status WHERE notification_id = %(notification_id)s
"""


def notification_uuid(notification_id: str | uuid.UUID) -> str:
    """The id as a canonical UUID string; ValueError with the id in it when it is not one."""
    try:
        return str(uuid.UUID(str(notification_id)))
    except ValueError:
        raise ValueError(f"{notification_id!r} is not a notification id (a UUID)") from None


_TENANTS = """
SELECT DISTINCT tenant FROM delivery_events WHERE notification_id = %(notification_id)s
"""


def status_queries(notification_id: str | uuid.UUID) -> list[Query]:
    """What `tidings status` asks: the timeline, then the notification's status."""
    params = {"notification_id": notification_uuid(notification_id), "final": sorted(FINAL_STATUSES)}
    return [(_TIMELINE, params), (_STATUS, params)]


def timeline(conn: psycopg.Connection, notification_id: str | uuid.UUID) -> list[dict]:
    """Every event of the notification, by channel then time; empty when none was recorded."""
    return fetch_all(conn, status_queries(notification_id)[:1])[0]


async def timeline_async(conn: psycopg.AsyncConnection, notification_id: str | uuid.UUID) -> list[dict]:
    return (await fetch_all_async(conn, status_queries(notification_id)[:1]))[0]


def notification_status(conn: psycopg.Connection, notification_id: str | uuid.UUID) -> dict | None:
    """pending / delivered / partially_delivered / undelivered with counts, or None if unknown."""
    rows = fetch_all(conn, status_queries(notification_id)[1:])[0]
    return rows[0] if rows else None


async def notification_status_async(conn: psycopg.AsyncConnection,
                                    notification_id: str | uuid.UUID) -> dict | None:
    rows = (await fetch_all_async(conn, status_queries(notification_id)[1:]))[0]
    return rows[0] if rows else None


async def notification_tenants_async(conn: psycopg.AsyncConnection,
                                     notification_id: str | uuid.UUID) -> set[str | None]:
    """The tenants recorded on the notification's events (None where an event carried none)."""
    rows = (await fetch_all_async(conn, [(_TENANTS, {"notification_id": notification_uuid(notification_id)})]))[0]
    return {row["tenant"] for row in rows}
