"""/v1/suppressions: the per-tenant suppression list the router checks every address against
(router/suppressions.py), listed, added to and removed from for the tenants the token acts for.
Needs the admin:suppressions scope."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from consumer.channel_specs import channel_names
from consumer.text_rules import BODY, SINGLE_LINE, field_flaw
from gateway.auth import Principal
from gateway.errors import ApiError, field_of, input_status
from gateway.openapi_schemas import SUPPRESSION, SUPPRESSION_BODY
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_SUPPRESSIONS, check_tenants, requires, tenant_filter
from router.suppressions import MAX_DETAIL, MAX_PAGE, REASONS, SuppressionInvalid, SuppressionList

router = APIRouter(tags=["suppressions"])
Admin = Depends(requires(ADMIN_SUPPRESSIONS))
DEFAULT_TENANT = "default"  # a notification's tenant when its producer names none

_PAGE = {"type": "object", "required": ["suppressions", "next"], "properties": {
    "suppressions": {"type": "array", "items": SUPPRESSION},
    "next": {"type": ["string", "null"], "description": "the next page's path, or null on the last"}}}


def tenant_of(given: str | None, principal: Principal) -> str:
    """The tenant a call names, else the token's one tenant, else `default` (as for notifications);
    403 when the token does not act for it."""
    if given is None:
        given = next(iter(principal.tenants)) if principal.tenants is not None and len(principal.tenants) == 1 \
            else DEFAULT_TENANT
    if not isinstance(given, str) or not given.strip():
        raise ApiError(422, "tenant: expected a tenant name", "tenant")
    if problem := field_flaw("tenant", given, SINGLE_LINE):
        raise ApiError(400, problem, "tenant")
    check_tenants(principal, [given])
    return given


def _clean(name: str, value: str | None) -> None:
    if problem := field_flaw(name, value, SINGLE_LINE):
        raise ApiError(400, problem, name)


def _refused(exc: SuppressionInvalid) -> ApiError:
    return ApiError(input_status(exc), str(exc), field_of(str(exc)))


@router.get("/v1/suppressions", name="suppressions.list",
            responses={200: {"content": {"application/json": {"schema": _PAGE}}}})
async def list_suppressions(request: Request, tenant: str | None = Query(None, min_length=1, max_length=256),
                            channel: Literal[channel_names()] | None = None,
                            address: str | None = Query(None, min_length=1, max_length=8192,
                                                        description="one address (with channel: normalised by it)"),
                            limit: int = Query(100, ge=1, le=MAX_PAGE),
                            before: int | None = Query(None, ge=1, le=2**63 - 1,
                                                       description="the page after (from `next`)"),
                            principal: Principal = Admin) -> JSONResponse:
    """Newest first: of one tenant, or of every tenant the token acts for."""
    for name, value in (("tenant", tenant), ("address", address)):
        _clean(name, value)
    if tenant is not None:
        check_tenants(principal, [tenant])
    tenants = [tenant] if tenant is not None else tenant_filter(principal)
    try:
        rows, cursor = await request.app.state.gateway.blocking(
            lambda conn: SuppressionList(conn).list(tenants, channel, address, limit, before))
    except SuppressionInvalid as exc:
        raise _refused(exc) from None
    following = None
    if cursor is not None:
        url = request.url.include_query_params(before=cursor)
        following = f"{url.path}?{url.query}"
    return JSONResponse({"suppressions": rows, "next": following})


@router.post("/v1/suppressions", name="suppressions.add", status_code=201, openapi_extra=SUPPRESSION_BODY,
             responses={200: {"description": "listed already: its first reason and time stand",
                              "content": {"application/json": {"schema": SUPPRESSION}}},
                        201: {"content": {"application/json": {"schema": SUPPRESSION}}}})
async def add_suppression(request: Request, principal: Principal = Admin) -> JSONResponse:
    """Suppress an address for a tenant: 201 with the stored row (the address normalised), or 200
    with the row that was there."""
    body = json_object(await json_body(request))
    if unknown := set(body) - {"tenant", "channel", "address", "reason", "detail"}:
        raise ApiError(422, f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    for key in ("channel", "address"):
        if key not in body:
            raise ApiError(422, f"{key}: required", key)
    for key, value in body.items():
        if not isinstance(value, str):
            raise ApiError(422, f"{key}: expected a string", key)
        if problem := field_flaw(key, value, BODY if key == "detail" else SINGLE_LINE):
            raise ApiError(400, problem, key)
    reason = body.get("reason", "manual")
    if reason not in REASONS:
        raise ApiError(422, f"reason: {reason!r} is not one of {', '.join(REASONS)}", "reason")
    if len(body.get("detail") or "") > MAX_DETAIL:
        raise ApiError(422, f"detail: longer than {MAX_DETAIL} characters", "detail")
    tenant = tenant_of(body.get("tenant"), principal)
    request.state.target = f"{tenant} {body['channel']} {body['address'][:200]}"
    try:
        row, created = await request.app.state.gateway.blocking(lambda conn: SuppressionList(conn).suppress(
            tenant, body["channel"], body["address"], reason, f"api:{principal.subject}", detail=body.get("detail"),
            at=request.app.state.gateway.clock()))
    except SuppressionInvalid as exc:
        raise _refused(exc) from None
    return JSONResponse(row, status_code=201 if created else 200)


@router.delete("/v1/suppressions", name="suppressions.remove", status_code=204,
               responses={404: {"description": "the address is not on the tenant's list"}})
async def remove_suppression(request: Request, channel: str = Query(min_length=1, max_length=64),
                             address: str = Query(min_length=1, max_length=8192, description="as listed or as given"),
                             tenant: str | None = Query(None, min_length=1, max_length=256),
                             principal: Principal = Admin) -> Response:
    """Send to the address again; its soft bounces are forgotten too."""
    for name, value in (("channel", channel), ("address", address), ("tenant", tenant)):
        _clean(name, value)
    tenant = tenant_of(tenant, principal)
    request.state.target = f"{tenant} {channel} {address[:200]}"
    try:
        removed = await request.app.state.gateway.blocking(
            lambda conn: SuppressionList(conn).remove(tenant, channel, address))
    except SuppressionInvalid as exc:
        raise _refused(exc) from None
    if not removed:
        raise ApiError(404, f"{channel} address {address[:200]!r} is not on tenant {tenant!r}'s suppression list",
                       "address")
    return Response(status_code=204)
