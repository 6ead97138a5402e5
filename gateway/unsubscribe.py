"""One-click unsubscribe (RFC 8058) for the links email puts in List-Unsubscribe: a signed,
expiring token names the recipient (and optionally channel and category); POST with it writes an
opt-out to the preferences table, once per link (Postgres remembers used links, so a replay cannot
undo a later opt-in). GET only shows a confirmation button: mail scanners follow links."""
from __future__ import annotations

import hashlib
import html
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import jwt
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from consumer.settings import Settings
from consumer.channel_specs import channel_names
from gateway.errors import ApiError
from gateway.openapi_schemas import UNSUBSCRIBE_LINK_BODY
from gateway.request_body import json_body, json_object
from gateway.scopes import ADMIN_PREFERENCES, requires
from router.preferences import ANY, PreferenceInvalid, Preferences
from gateway.settings import GatewaySettings

router = APIRouter(tags=["unsubscribe"])

AUDIENCE = "tidings-unsubscribe"
Token = Query(min_length=1, max_length=4096, description="the signed token from the unsubscribe link")


def sign(secret: str, recipient_id: str, channel: str | None, category: str | None, now: datetime,
         ttl_s: float) -> tuple[str, datetime]:
    expires = now + timedelta(seconds=ttl_s)
    # jti: the link's own id, recorded when it is used (a link opts out once).
    claims = {"sub": recipient_id, "aud": AUDIENCE, "iat": now, "exp": expires, "jti": secrets.token_urlsafe(16),
              **({"ch": channel} if channel else {}), **({"cat": category} if category else {})}
    return jwt.encode(claims, secret, algorithm="HS256"), expires


def unsubscribe_url(settings: Settings, recipient_id: str, channel: str | None = None, category: str | None = None,
                    now: datetime | None = None) -> tuple[str, datetime]:
    """The https link for List-Unsubscribe (the email channel's `unsubscribe_url` option)."""
    token, expires = sign(_secret(settings), recipient_id, channel, category, now or datetime.now(timezone.utc),
                          settings.section(GatewaySettings).gateway_unsubscribe_ttl_s)
    return f"{settings.section(GatewaySettings).gateway_public_url.rstrip('/')}/v1/unsubscribe?token={quote(token)}", expires


def verify(secret: str, token: str) -> dict:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE, options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise ApiError(410, "this unsubscribe link has expired", "token") from None
    except jwt.InvalidTokenError:
        raise ApiError(400, "this unsubscribe link is not valid", "token") from None
    if claims.get("ch") is not None and claims["ch"] not in channel_names():
        raise ApiError(400, "this unsubscribe link is not valid", "token")
    return claims


def _secret(settings: Settings) -> str:
    if not settings.section(GatewaySettings).gateway_unsubscribe_secret:
        raise ApiError(503, "unsubscribe links are not configured (TIDINGS_GATEWAY_UNSUBSCRIBE_SECRET)")
    return settings.section(GatewaySettings).gateway_unsubscribe_secret.get_secret_value()


_USE = ("INSERT INTO unsubscribe_link_uses (link_id, recipient_id, channel, category, expires_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (link_id) DO NOTHING RETURNING 1")


def spent() -> ApiError:
    return ApiError(410, "this unsubscribe link was already used, and the recipient has opted back in since: it no "
                         "longer unsubscribes (the link in a newer message does, or change the preferences)", "token")


def link_id(claims: dict, token: str) -> str:
    """The link's id: its jti; links signed before jti existed are known by a hash of the token."""
    jti = claims.get("jti")
    return jti if isinstance(jti, str) and jti else "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _preference(conn, claims: dict) -> dict | None:
    """The preference row the link writes, as Preferences.set answers it; None when there is none."""
    recipient, channel, category = claims["sub"], claims.get("ch") or ANY, claims.get("cat") or ANY
    row = conn.execute("SELECT enabled, source, updated_at FROM preferences"
                       " WHERE recipient_id = %s AND channel = %s AND category = %s",
                       [recipient, channel, category]).fetchone()
    if row is None:
        return None
    return {"recipient_id": recipient, "channel": channel, "category": category, "enabled": row[0],
            "source": row[1], "updated_at": row[2].isoformat()}


def _undone(row: dict | None) -> bool:
    """The link's opt-out is no longer in force: the recipient opted back in, or the row was removed."""
    return row is None or row["enabled"]


def _opted_back_in(conn, link: str, claims: dict) -> bool:
    """The link was used, and its opt-out has since been undone."""
    used = conn.execute("SELECT 1 FROM unsubscribe_link_uses WHERE link_id = %s", [link]).fetchone()
    return used is not None and _undone(_preference(conn, claims))


@router.get("/v1/unsubscribe", name="unsubscribe.confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, token: str = Token) -> HTMLResponse:
    gateway = request.app.state.gateway
    claims = verify(_secret(gateway.settings), token)
    if await gateway.blocking(lambda conn: _opted_back_in(conn, link_id(claims, token), claims)):
        raise spent()
    action = html.escape(f"/v1/unsubscribe?token={quote(token)}")
    return HTMLResponse(f"<!doctype html><title>Unsubscribe</title><form method=post action=\"{action}\">"
                        "<input type=hidden name=List-Unsubscribe value=One-Click>"
                        "<button type=submit>Unsubscribe</button></form>")


@router.post("/v1/unsubscribe", name="unsubscribe.one_click",
             responses={410: {"description": "the link expired, or was used and the recipient opted back in since"}})
async def one_click(request: Request, token: str = Token) -> dict:
    """RFC 8058: the mail provider POSTs List-Unsubscribe=One-Click to the link."""
    gateway = request.app.state.gateway
    claims = verify(_secret(gateway.settings), token)
    recipient, channel, category = claims["sub"], claims.get("ch"), claims.get("cat")
    request.state.principal = f"unsubscribe:{recipient}"
    request.state.target = f"{recipient} channel={channel or '*'} category={category or '*'}"
    link = link_id(claims, token)
    expires = datetime.fromtimestamp(claims["exp"], timezone.utc)

    def unsubscribe(conn) -> dict:
        with conn.transaction():
            first = conn.execute(_USE, [link, recipient, channel or ANY, category or ANY, expires]).fetchone()
            if first:
                return Preferences(conn).set(recipient, enabled=False, channel=channel, category=category,
                                             source="unsubscribe")
            # Used before (a provider's retry, a second click): answer again, write nothing.
            row = _preference(conn, claims)
            if _undone(row):
                raise spent()
            return row
    try:
        return await gateway.blocking(unsubscribe)
    except PreferenceInvalid:
        raise ApiError(400, "this unsubscribe link is not valid", "token") from None


@router.post("/v1/unsubscribe-links", name="unsubscribe.link", openapi_extra=UNSUBSCRIBE_LINK_BODY)
async def make_link(request: Request, _principal=Depends(requires(ADMIN_PREFERENCES, every_tenant=True))) -> dict:
    """A signed link for one recipient (and optionally one channel and category); like the
    preferences it writes, shared by every tenant."""
    body = json_object(await json_body(request))
    recipient, channel, category = body.get("recipient_id"), body.get("channel"), body.get("category")
    if not isinstance(recipient, str) or not recipient.strip() or len(recipient) > 256:
        raise ApiError(422, "recipient_id: required, a non-empty string", "recipient_id")
    if channel is not None and channel not in channel_names():
        raise ApiError(422, f"channel: expected one of {', '.join(channel_names())}", "channel")
    if category is not None and (not isinstance(category, str) or not category.strip()):
        raise ApiError(422, "category: expected a non-empty string", "category")
    request.state.target = recipient
    url, expires = unsubscribe_url(request.app.state.gateway.settings, recipient, channel, category,
                                   request.app.state.gateway.clock())
    return {"url": url, "expires_at": expires.isoformat()}
