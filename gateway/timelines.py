"""A notification's timeline and status as the gateway answers them (tracking/timeline.py reads
Postgres; this turns its rows into JSON, and unknown ids or other tenants' ones into 404)."""
from __future__ import annotations

from consumer.json_values import jsonable
from gateway.auth import Principal
from gateway.errors import ApiError
from tracking.timeline import (notification_status_async, notification_tenants_async, notification_uuid,
                               timeline_async)


async def timeline_of(gateway, notification_id: str, principal: Principal) -> dict:
    try:
        notification_id = notification_uuid(notification_id)
    except ValueError as exc:
        raise ApiError(422, str(exc), "notification_id") from None
    unknown = ApiError(404, f"nothing is recorded for notification {notification_id} (yet)", "notification_id")
    async with gateway.pool.connection() as conn:
        # Another tenant's notification answers exactly like an unknown one: its existence is not told.
        if principal.tenants is not None:
            tenants = await notification_tenants_async(conn, notification_id)
            if not tenants or not all(principal.acts_for(tenant) for tenant in tenants):
                raise unknown
        status = await notification_status_async(conn, notification_id)
        events = await timeline_async(conn, notification_id)
    if status is None and not events:
        raise unknown
    return jsonable({"notification_id": notification_id, "status": status, "events": events})
