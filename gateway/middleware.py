"""Around every request: a request id (X-Request-ID, taken from the caller when sane), the request
metrics, and for mutating calls the audit row, written before the response starts."""
from __future__ import annotations

import logging
import re
import time
import uuid

from gateway import audit

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        gateway = scope["app"].state.gateway
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started, at = time.monotonic(), gateway.clock()
        answered = False

        async def observe(status: int) -> None:
            route = _route(scope)
            gateway.metrics.requests.labels(scope["method"], route, str(status)).inc()
            gateway.metrics.request_seconds.labels(route).observe(time.monotonic() - started)
            if scope["method"] in audit.MUTATING:
                await _audit(gateway, scope, state, request_id, at, status)

        async def send_observed(message):
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
                await observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception as exc:  # a bug: Starlette answers 500 outside this middleware, so record it here
            if not answered:
                state.setdefault("audit_detail", f"internal error: {type(exc).__name__}")
                await observe(500)
            raise


def _route(scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


async def _audit(gateway, scope, state, request_id, at, status) -> None:
    route = scope.get("route")
    action = getattr(route, "name", None) if route is not None else None
    try:
        await audit.record(gateway.pool, at=at, request_id=request_id, principal=state.get("principal"),
                           action=action or f"{scope['method']} {scope['path']}",
                           target=state.get("target") or scope["path"], status=status,
                           detail=state.get("audit_detail"))
    except Exception:  # the call already happened; losing its audit row must be loud, not fatal
        gateway.metrics.audit_failures.inc()
        log.exception("audit row not written: %s %s -> %s (request %s)", scope["method"], scope["path"],
                      status, request_id)
