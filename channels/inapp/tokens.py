"""Feed tokens: a JWT the product's backend mints for one of its users (`sub`: the recipient id,
`tenant`: the tenant, `exp`), signed with the tenant's key from TIDINGS_INAPP_TENANT_KEYS (an
HS256 secret or a PEM public key for RS256/ES256). The verified token names whose inbox it opens."""
from __future__ import annotations

import json
import time

import jwt

from channels.inapp.inbox import Reader
from channels.inapp.settings import InappSettings
from consumer.settings import Settings, SettingsError
from consumer.text_rules import SINGLE_LINE, field_flaw

ASYMMETRIC = ("RS256", "ES256")


class TokenRefused(Exception):
    """The feed token does not open an inbox; the message says why (never the token itself)."""


def _keys(settings: Settings) -> dict[str, tuple[str, tuple[str, ...]]]:
    """tenant -> (key, the algorithms it verifies)."""
    raw = settings.section(InappSettings).inapp_tenant_keys
    if raw is None:
        return {}
    try:
        table = json.loads(raw.get_secret_value())
    except ValueError:
        raise SettingsError("TIDINGS_INAPP_TENANT_KEYS: expected a JSON object {\"<tenant>\": \"<key>\"}") from None
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise SettingsError("TIDINGS_INAPP_TENANT_KEYS: expected a JSON object of strings {\"<tenant>\": \"<key>\"}")
    keys = {}
    for tenant, key in table.items():
        if key.lstrip().startswith("-----BEGIN"):
            keys[tenant] = (key, ASYMMETRIC)
        elif len(key.encode()) < 32:  # RFC 7518: an HMAC key at least as long as its output
            raise SettingsError(f"TIDINGS_INAPP_TENANT_KEYS: tenant {tenant!r}: use at least 32 bytes (a random string)")
        else:
            keys[tenant] = (key, ("HS256",))
    return keys


class FeedTokens:
    def __init__(self, settings: Settings):
        own = settings.section(InappSettings)
        self.keys = _keys(settings)
        self.leeway = own.inapp_token_leeway_s
        self.max_lifetime_s = own.inapp_token_max_lifetime_s

    def reader(self, authorization: str | None) -> Reader:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRefused("expected Authorization: Bearer <feed token>")
        try:
            tenant = jwt.decode(token, options={"verify_signature": False}).get("tenant")
        except jwt.InvalidTokenError:
            raise TokenRefused("malformed token") from None
        if not isinstance(tenant, str) or tenant not in self.keys:
            raise TokenRefused("the token's tenant has no inbox key (TIDINGS_INAPP_TENANT_KEYS)")
        key, algorithms = self.keys[tenant]
        try:
            claims = jwt.decode(token, key, algorithms=list(algorithms), leeway=self.leeway,
                                options={"require": ["exp", "sub", "tenant"]})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("token expired") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("token signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(f"invalid token: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip() or field_flaw("sub", subject, SINGLE_LINE):
            raise TokenRefused("the token's subject (sub) must name the recipient")
        if claims["exp"] - time.time() > self.max_lifetime_s:
            raise TokenRefused("the token lives longer than TIDINGS_INAPP_TOKEN_MAX_LIFETIME_S allows")
        return Reader(tenant, subject)
