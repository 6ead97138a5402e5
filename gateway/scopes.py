"""Authorization: which scope each call needs. Sending needs `send:<channel>` for every channel a
notification asks for; templates, recipients/preferences and the DLQ need admin scopes."""
from __future__ import annotations

from typing import Iterable

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from gateway.auth import Principal
from gateway.errors import ApiError

READ = "read"                           # notification timelines and statistics
ADMIN_TEMPLATES = "admin:templates"
ADMIN_PREFERENCES = "admin:preferences"  # recipients, preferences, unsubscribe links
ADMIN_DLQ = "admin:dlq"
ALERTMANAGER = "alertmanager"

# Documents bearer auth in the OpenAPI document; the header itself is read by the verifier.
_bearer = HTTPBearer(auto_error=False, description="a JWT (HS256/RS256) or a static token")


def send_scope(channel: str) -> str:
    return f"send:{channel}"


async def authenticate(request: Request, _doc=Depends(_bearer)) -> Principal:
    principal = await request.app.state.gateway.verifier.verify(request.headers.get("authorization"))
    request.state.principal = principal.subject  # read by the audit log
    return principal


def check(principal: Principal, scopes: Iterable[str]) -> None:
    missing = sorted(set(scopes) - principal.scopes)
    if missing:
        raise ApiError(403, f"token lacks scope(s): {', '.join(missing)}")


def requires(scope: str):
    """A dependency: the authenticated principal, which must hold `scope`."""

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        check(principal, [scope])
        return principal

    return dependency
