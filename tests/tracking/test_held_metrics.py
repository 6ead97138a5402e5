"""The sink's held-delivery gauges come from the delivery log: scheduled and deferred deliveries
still waiting (whatever their due time), and those past due_at plus TIDINGS_HELD_OVERDUE_AFTER_S
with no later status, with the age of the oldest; a later `sent` or `cancelled` takes a delivery out."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import psycopg

from tracking.migrate import migrate
from tracking.stats import held_counts
from tracking.store import DeliveryLog


def event(delivery: str, status: str, due_at: datetime | None, occurred_at: datetime) -> dict:
    return {"event_id": str(uuid.uuid4()), "notification_id": delivery, "delivery_id": delivery,
            "channel": "email", "priority": "NORMAL", "status": status, "attempt": 0, "due_at": due_at,
            "occurred_at": occurred_at}


def test_held_counts_overdue_and_age(database_url):
    migrate(database_url)
    now = datetime.now(timezone.utc)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    events = [event(ids[0], "scheduled", now + timedelta(hours=3), now),         # waiting
              event(ids[1], "scheduled", now - timedelta(minutes=10), now - timedelta(hours=1)),  # overdue 600 s
              event(ids[2], "deferred", now - timedelta(seconds=30), now - timedelta(hours=1)),  # within the grace
              event(ids[3], "scheduled", now - timedelta(hours=2), now - timedelta(hours=3)),
              event(ids[3], "sent", None, now - timedelta(hours=2)),                   # went out: not held
              event(ids[4], "deferred", now - timedelta(minutes=5), now - timedelta(hours=1)),
              event(ids[4], "cancelled", None, now - timedelta(minutes=5))]            # cancelled: not held

    async def run():
        log = await DeliveryLog.connect(database_url)
        await log.record(events)
        counts = await held_counts(log.conn, 120.0)
        await log.close()
        return counts

    counts = asyncio.run(run())
    scheduled, deferred = counts["scheduled"], counts["deferred"]
    assert scheduled[:2] == (2, 1) and 595 < scheduled[2] < 660
    assert deferred == (1, 0, 0.0)
    with psycopg.connect(database_url) as conn:
        status = conn.execute("SELECT status FROM deliveries WHERE delivery_id = %s", [ids[4]]).fetchone()
    assert status == ("cancelled",)
