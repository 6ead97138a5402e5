"""Cancelling a notification before its held deliveries go out (`tidings cancel`, POST
/v1/notifications/{id}/cancel): one row in `cancellations`, which the channel worker consults when a
held delivery comes due or rides its next leg (channels/held_releases.py) and then records it
`cancelled`. Only held deliveries (scheduled sends, quiet hours) can be cancelled."""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from consumer.statuses import HELD_STATUSES
from tracking.timeline import notification_uuid

# The same lock as channels/held_releases.py takes before it releases a due delivery.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 19))"
_DELIVERIES = "SELECT delivery_id::text, channel, status, due_at, tenant FROM deliveries " \
              "WHERE notification_id = %s ORDER BY channel, delivery_id"
_RELEASED = "SELECT delivery_id::text FROM held_releases WHERE notification_id = %s"
_EXISTING = "SELECT cancelled_by, cancelled_at FROM cancellations WHERE notification_id = %s"
_INSERT = "INSERT INTO cancellations (notification_id, tenant, cancelled_by) VALUES (%s, %s, %s) " \
          "ON CONFLICT (notification_id) DO NOTHING RETURNING cancelled_by, cancelled_at"


class NothingToCancel(Exception):
    """Every delivery of the notification went out or ended already (or was never held)."""

    def __init__(self, notification_id: str, deliveries: list[dict]):
        self.deliveries = deliveries
        states = ", ".join(f"{d['channel']} {d['status']}" for d in deliveries)
        super().__init__(f"notification {notification_id} has nothing left to cancel ({states}): only scheduled "
                         "or deferred deliveries that have not gone out can be cancelled")


@dataclass
class Cancellation:
    notification_id: str
    cancelled_by: str
    cancelled_at: str
    stopping: list[dict] = field(default_factory=list)   # held, not yet out: will record `cancelled`
    going: list[dict] = field(default_factory=list)      # already out, being sent, or never held
    already: bool = False                                  # cancelled before (by cancelled_by)

    def as_dict(self) -> dict:
        return {"notification_id": self.notification_id, "cancelled_by": self.cancelled_by,
                "cancelled_at": self.cancelled_at, "already_cancelled": self.already,
                "cancelled": self.stopping, "not_cancelled": self.going}


def deliveries_of(conn: psycopg.Connection, notification_id: str) -> list[dict]:
    """The notification's deliveries as the log holds them (empty: nothing recorded yet)."""
    rows = conn.execute(_DELIVERIES, [notification_uuid(notification_id)]).fetchall()
    return [{"delivery_id": d, "channel": c, "status": s, "due_at": due.isoformat() if due else None, "tenant": t}
            for d, c, s, due, t in rows]


def cancel(conn: psycopg.Connection, notification_id: str, by: str) -> Cancellation:
    """Record the cancellation of the notification's held deliveries that have not gone out; raises
    LookupError when nothing is recorded for it (yet) and NothingToCancel when nothing is left to
    stop. Cancelling twice answers the first cancellation."""
    notification_id = notification_uuid(notification_id)
    with conn.transaction():
        conn.execute(_LOCK, [notification_id])
        deliveries = deliveries_of(conn, notification_id)
        if not deliveries:
            raise LookupError(f"nothing is recorded for notification {notification_id} (yet)")
        released = {d for (d,) in conn.execute(_RELEASED, [notification_id]).fetchall()}
        stopping = [d for d in deliveries if d["status"] in HELD_STATUSES and d["status"] != "digested"  # in a digest
                    and d["delivery_id"] not in released]
        going = [d for d in deliveries if d not in stopping]
        existing = conn.execute(_EXISTING, [notification_id]).fetchone()
        if existing is None and not stopping:
            raise NothingToCancel(notification_id, deliveries)
        row = existing or conn.execute(_INSERT, [notification_id, deliveries[0]["tenant"], by]).fetchone()
    return Cancellation(notification_id, row[0], row[1].isoformat(), stopping, going, already=existing is not None)
