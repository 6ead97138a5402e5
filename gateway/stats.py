"""GET /v1/stats?since=24h: delivery statistics over a window (tracking/summary.py computes them
in Postgres), optionally grouped by channel, status, provider, priority, tenant, category, source;
only the deliveries of the tenants the token acts for."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from consumer.json_values import jsonable
from gateway.errors import ApiError
from gateway.moments import moment
from gateway.auth import Principal
from gateway.scopes import READ, requires, tenant_filter
from tracking.summary import delivery_stats_async

router = APIRouter(tags=["operations"])


@router.get("/v1/stats", name="stats.read")
async def read_stats(request: Request, since: str = Query("24h", max_length=64,
                                                          description="ISO 8601 time or an age: 15m, 2h, 7d"),
                     until: str | None = Query(None, max_length=64),
                     by: str = Query("", max_length=200, description="comma-separated grouping columns"),
                     principal: Principal = Depends(requires(READ))):
    gateway = request.app.state.gateway
    start, end = moment(since, "since", gateway.clock), moment(until, "until", gateway.clock)
    if end is not None and end <= start:
        raise ApiError(422, "until: must be after since", "until")
    columns = [c.strip() for c in by.split(",") if c.strip()]
    try:
        async with gateway.pool.connection() as conn:
            stats = await delivery_stats_async(conn, start, columns, end, tenant_filter(principal))
    except ValueError as exc:
        raise ApiError(422, f"by: {exc}", "by") from None
    return jsonable(stats)
