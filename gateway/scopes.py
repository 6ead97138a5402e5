"""Authorization: which scope each call needs and which tenants it may touch. Sending needs
`send:<channel>` for every channel a notification asks for; templates, recipients/preferences, the
suppression list and the DLQ need admin scopes. Every read and write is limited to the tenants the token acts for;
what all tenants share (templates, the recipient directory, preferences) needs a "*" token."""
from __future__ import annotations

from typing import Iterable

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from consumer.channel_specs import registry
from gateway.auth import Principal
from gateway.errors import ApiError

READ = "read"                           # notification timelines and statistics
ADMIN_TEMPLATES = "admin:templates"
ADMIN_PREFERENCES = "admin:preferences"  # recipients, preferences, unsubscribe links
ADMIN_DLQ = "admin:dlq"
ADMIN_SUPPRESSIONS = "admin:suppressions"  # the per-tenant suppression list, of the token's tenants
ALERTMANAGER = "alertmanager"
RECEIPTS = "receipts"  # posting bounce reports (a mail server's pipe or forwarder), for every tenant

# Documents bearer auth in the OpenAPI document; the header itself is read by the verifier.
_bearer = HTTPBearer(auto_error=False, description="a JWT (HS256/RS256) or a static token")


def send_scope(channel: str) -> str:
    """The scope its ChannelSpec declares (send:<channel>)."""
    spec = registry().get(channel)
    return spec.scope if spec is not None else f"send:{channel}"


async def authenticate(request: Request, _doc=Depends(_bearer)) -> Principal:
    principal = await request.app.state.gateway.verifier.verify(request.headers.get("authorization"))
    request.state.principal = principal.subject  # read by the audit log
    if principal.tenants is not None and not principal.tenants:
        raise ApiError(403, 'the token acts for no tenant: give it a "tenants" claim (a list of tenant names, '
                            'or "*" for all), or set TIDINGS_GATEWAY_DEFAULT_TENANTS for tokens without one')
    return principal


def check(principal: Principal, scopes: Iterable[str]) -> None:
    missing = sorted(set(scopes) - principal.scopes)
    if missing:
        raise ApiError(403, f"token lacks scope(s): {', '.join(missing)}")


def check_tenants(principal: Principal, tenants: Iterable[str]) -> None:
    """403 unless the token acts for every one of `tenants`."""
    outside = sorted({tenant for tenant in tenants if not principal.acts_for(tenant)})
    if outside:
        raise ApiError(403, f"the token does not act for tenant(s): {', '.join(outside)}", "tenant")


def tenant_filter(principal: Principal) -> list[str] | None:
    """The tenants to restrict a query to; None when the token acts for every tenant."""
    return None if principal.tenants is None else sorted(principal.tenants)


def requires(scope: str, *, every_tenant: bool = False):
    """A dependency: the authenticated principal, which must hold `scope` and, for what all tenants
    share (`every_tenant`), act for every tenant."""

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        check(principal, [scope])
        if every_tenant and principal.tenants is not None:
            raise ApiError(403, 'this is shared by every tenant: it needs a token whose "tenants" claim is "*"')
        return principal

    return dependency
