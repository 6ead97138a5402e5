"""What the sink recorded about notifications: their DeliveryEvents in Postgres, read by the
admission tests (dedup, rate limits, expiry)."""
from __future__ import annotations

import time

import psycopg


def events_of(database_url: str, notification_id: str) -> list[tuple]:
    """(status, stage, reason, error_class, retry_tier, due_at) of every event, in order."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT status, stage, reason, error_class, retry_tier, due_at FROM delivery_events"
            " WHERE notification_id = %s ORDER BY occurred_at, attempt", [str(notification_id)]).fetchall()


def wait_for_events(database_url: str, notification_id: str, status: str, count: int = 1,
                    timeout: float = 120) -> list[tuple]:
    """Wait until the notification has `count` events with `status`; returns all its events."""
    deadline = time.monotonic() + timeout
    while True:
        events = events_of(database_url, notification_id)
        if sum(1 for e in events if e[0] == status) >= count:
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"{notification_id}: expected {count} {status!r} events, got {events}")
        time.sleep(0.2)
