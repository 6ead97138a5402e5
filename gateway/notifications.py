"""POST /v1/notifications (one, or a batch as a JSON array): validated like `tidings publish`,
authorized per channel, rate-limited, published and answered 202 once the broker acknowledged;
GET /v1/notifications/{id}: the notification's timeline from Postgres; POST
/v1/notifications/{id}/cancel: stop its scheduled or deferred deliveries (send:<channel> of each).
All only for the tenants the token acts for."""
from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from consumer.notification_json import InvalidNotification, notification_from_json
from gateway import idempotency
from gateway.auth import Principal
from gateway.errors import ApiError, field_of, input_status
from gateway.openapi_schemas import NOTIFICATION_BODY
from gateway.publishing import publish
from gateway.rate_limits import RateLimited, take
from gateway.request_body import parse_json
from gateway.scopes import READ, authenticate, check, check_tenants, requires, send_scope
from gateway.timelines import timeline_of
from gateway.settings import GatewaySettings
from tracking.cancellations import NothingToCancel, cancel, deliveries_of
from tracking.timeline import notification_uuid

router = APIRouter(tags=["notifications"])


@router.post("/v1/notifications", name="notifications.create", status_code=202, openapi_extra=NOTIFICATION_BODY,
             responses={202: {"description": "published; every event acknowledged by the broker"},
                        400: {"description": "not JSON"}, 401: {"description": "no valid token"},
                        403: {"description": "a send:<channel> scope is missing, or the token does not "
                                              "act for the notification's tenant"},
                        413: {"description": "body or batch too large"}, 422: {"description": "invalid field"},
                        429: {"description": "rate limited; see Retry-After"}})
async def create_notifications(request: Request, principal: Principal = Depends(authenticate),
                               idempotency_key: str | None = Header(None, alias="Idempotency-Key",
                                                                    min_length=1, max_length=200)):
    gateway = request.app.state.gateway
    body = await request.body()
    payload = parse_json(body)
    single = not isinstance(payload, list)
    records = validate(payload if not single else [payload], principal, idempotency_key, gateway, single)
    check(principal, sorted({send_scope(c) for r in records for c in r["channels"]}))
    check_tenants(principal, {r["tenant"] for r in records})
    request.state.target = ",".join(r["id"] for r in records)[:500]
    if idempotency_key:
        stored = await idempotency.claim(gateway.pool, principal.subject, idempotency_key,
                                         idempotency.request_hash(body), gateway.clock(),
                                         gateway.settings.section(GatewaySettings).gateway_idempotency_ttl_s)
        if stored is not None:
            return JSONResponse(stored, status_code=202, headers={"Idempotent-Replayed": "true"})
    try:
        answer = await _publish(gateway, principal, records, single)
    except BaseException:
        if idempotency_key:
            await idempotency.release(gateway.pool, principal.subject, idempotency_key)
        raise
    if idempotency_key:
        await idempotency.complete(gateway.pool, principal.subject, idempotency_key, answer)
    return JSONResponse(answer, status_code=202)


def validate(items: list[Any], principal: Principal, key: str | None, gateway, single: bool) -> list[dict]:
    if not items:
        raise ApiError(422, "expected a notification object or a non-empty array of them")
    cap = gateway.settings.section(GatewaySettings).gateway_max_batch
    if len(items) > cap:
        raise ApiError(413, f"batch of {len(items)} notifications is over the cap of {cap}")
    records = []
    for index, item in enumerate(items):
        where = "" if single else f"[{index}]"
        if isinstance(item, dict):
            # The token's subject is the source; the Idempotency-Key fixes the ids and the key.
            item = {**item, "source": principal.subject}
            if item.get("tenant") is None and principal.tenants is not None and len(principal.tenants) == 1:
                item["tenant"] = next(iter(principal.tenants))  # a one-tenant token need not repeat it
            if key:
                item.setdefault("id", idempotency.notification_id(principal.subject, key, index))
                item.setdefault("idempotency_key", f"{key}/{index}" if not single else key)
        try:
            records.append(notification_from_json(item, clock=gateway.clock))
        except InvalidNotification as exc:
            field = field_of(str(exc))
            raise ApiError(input_status(exc), f"{where + ': ' if where else ''}{exc}",
                           f"{where}.{field}" if where and field else (field or where or None)) from None
    return records


async def _publish(gateway, principal: Principal, records: list[dict], single: bool) -> dict:
    costs = Counter(channel for record in records for channel in record["channels"])
    try:
        async with gateway.pool.connection() as conn:
            await take(conn, gateway.limits, principal.subject, dict(costs), gateway.clock())
    except RateLimited as exc:
        gateway.metrics.rate_limited.labels(exc.channel).inc()
        raise ApiError(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    published = await publish(gateway, records, origin="api")
    return published[0] if single else {"notifications": published}


@router.get("/v1/notifications/{notification_id}", name="notifications.timeline",
            responses={404: {"description": "nothing recorded for this id, or not for the token's tenants"}})
async def notification_timeline(notification_id: str, request: Request, principal: Principal = Depends(requires(READ))):
    return await timeline_of(request.app.state.gateway, notification_id, principal)


@router.post("/v1/notifications/{notification_id}/cancel", name="notifications.cancel", status_code=202,
             responses={202: {"description": "cancelled: the listed held deliveries will not be sent (each records "
                                             "`cancelled` when the worker next takes it); cancelling again answers "
                                             "the first cancellation"},
                        403: {"description": "a send:<channel> scope of one of its channels is missing"},
                        404: {"description": "nothing recorded for this id (yet), or not for the token's tenants"},
                        409: {"description": "nothing left to cancel: every delivery went out, ended, or was "
                                             "never scheduled or deferred"}})
async def cancel_notification(notification_id: str, request: Request, principal: Principal = Depends(authenticate)):
    gateway = request.app.state.gateway
    try:
        notification_id = notification_uuid(notification_id)
    except ValueError as exc:
        raise ApiError(422, str(exc), "notification_id") from None
    request.state.target = notification_id
    unknown = ApiError(404, f"nothing is recorded for notification {notification_id} (yet)", "notification_id")
    deliveries = await gateway.blocking(lambda conn: deliveries_of(conn, notification_id))
    # Another tenant's notification answers exactly like an unknown one (as its timeline does).
    if not deliveries or not all(principal.acts_for(d["tenant"]) for d in deliveries):
        raise unknown
    check(principal, sorted({send_scope(d["channel"]) for d in deliveries}))  # who may send it may unsend it
    try:
        done = await gateway.blocking(lambda conn: cancel(conn, notification_id, f"api:{principal.subject}"))
    except LookupError:
        raise unknown from None
    except NothingToCancel as exc:
        raise ApiError(409, str(exc), "notification_id") from None
    return JSONResponse(done.as_dict(), status_code=202)
