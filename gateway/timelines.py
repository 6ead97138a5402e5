"""A notification's timeline and status as the gateway answers them (tracking/timeline.py reads
Postgres; this turns its rows into JSON and unknown ids into 404)."""
from __future__ import annotations

from cli.dlq_read import jsonable
from gateway.errors import ApiError
from tracking.timeline import notification_status_async, notification_uuid, timeline_async


async def timeline_of(gateway, notification_id: str) -> dict:
    try:
        notification_id = notification_uuid(notification_id)
    except ValueError as exc:
        raise ApiError(422, str(exc), "notification_id") from None
    async with gateway.pool.connection() as conn:
        status = await notification_status_async(conn, notification_id)
        events = await timeline_async(conn, notification_id)
    if status is None and not events:
        raise ApiError(404, f"nothing is recorded for notification {notification_id} (yet)", "notification_id")
    return jsonable({"notification_id": notification_id, "status": status, "events": events})
