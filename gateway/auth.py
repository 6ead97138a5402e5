"""Who is calling: JWT bearer tokens (HS256 with a shared secret, RS256 with keys from a JWKS URL;
exp, nbf, iss and aud checked with a small leeway) and static bearer tokens (Alertmanager), each
with the scopes it holds and the tenants it acts for."""
from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass

import jwt

from consumer.settings import Settings, SettingsError
from gateway.errors import ApiError
from gateway.settings import GatewaySettings


ALL_TENANTS = "*"
TENANTS_CLAIM = "tenants"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's subject (the events' source), its scopes, and the
    tenants it acts for (None: every tenant; an empty set: none, so every call is refused)."""

    subject: str
    scopes: frozenset[str]
    tenants: frozenset[str] | None

    def acts_for(self, tenant: str | None) -> bool:
        return self.tenants is None or tenant in self.tenants


def parse_tenants(value, where: str) -> frozenset[str] | None:
    """A tenants claim or setting: "*" (alone or in a list) is every tenant, else a list of names
    (one name as a plain string too, as some identity providers write single-valued claims)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise ValueError(f'{where}: expected a list of tenant names or "{ALL_TENANTS}"')
    return None if ALL_TENANTS in value else frozenset(value)


def default_tenants(settings: Settings) -> frozenset[str] | None:
    """What a token without a tenants claim acts for: TIDINGS_GATEWAY_DEFAULT_TENANTS ("*" by
    default, every tenant; names restrict such tokens; empty refuses them)."""
    names = [t.strip() for t in (settings.section(GatewaySettings).gateway_default_tenants or "").split(",") if t.strip()]
    return parse_tenants(names, "TIDINGS_GATEWAY_DEFAULT_TENANTS") if names else frozenset()


def unauthorized(reason: str) -> ApiError:
    return ApiError(401, reason, headers={"WWW-Authenticate": 'Bearer realm="tidings"'})


def parse_static_tokens(text: str | None, tenants: frozenset[str] | None = frozenset()) -> list[tuple[str, Principal]]:
    """token -> principal; an entry without "tenants" acts for `tenants` (the operator's default)."""
    if not text:
        return []
    try:
        table = json.loads(text)
        tokens = [(token, Principal(str(entry["subject"]), frozenset(entry.get("scopes", [])),
                                    parse_tenants(entry[TENANTS_CLAIM], "tenants")
                                    if TENANTS_CLAIM in entry else tenants))
                  for token, entry in table.items()]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise SettingsError('TIDINGS_GATEWAY_STATIC_TOKENS: expected a JSON object token -> '
                            '{"subject": ..., "scopes": [...], "tenants": [...] or "*"}') from None
    if any(len(token) < 16 for token, _ in tokens):
        raise SettingsError("TIDINGS_GATEWAY_STATIC_TOKENS: every token needs at least 16 characters")
    return tokens


def scopes_of(claims: dict) -> frozenset[str]:
    """OAuth2's space-separated `scope`, or a list in `scopes` / `scp`."""
    value = claims.get("scope", claims.get("scopes", claims.get("scp", [])))
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(s for s in value if isinstance(s, str)) if isinstance(value, list) else frozenset()


class TokenVerifier:
    def __init__(self, settings: Settings):
        own = settings.section(GatewaySettings)
        self.secret = own.gateway_jwt_secret.get_secret_value() if own.gateway_jwt_secret else None
        self.jwks = jwt.PyJWKClient(settings.section(GatewaySettings).gateway_jwks_url, lifespan=300, timeout=5) if settings.section(GatewaySettings).gateway_jwks_url else None
        self.issuer = settings.section(GatewaySettings).gateway_jwt_issuer
        self.audience = settings.section(GatewaySettings).gateway_jwt_audience
        self.leeway = settings.section(GatewaySettings).gateway_jwt_leeway_s
        try:
            self.default_tenants = default_tenants(settings)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        static = own.gateway_static_tokens.get_secret_value() if own.gateway_static_tokens else None
        self.static = parse_static_tokens(static, self.default_tenants)

    async def verify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise unauthorized("missing bearer token (Authorization: Bearer <token>)")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("expected Authorization: Bearer <token>")
        matched = None
        for known, principal in self.static:  # compare with every token, in constant time each
            if hmac.compare_digest(known.encode(), token.encode()):
                matched = principal
        if matched is not None:
            return matched
        claims = await self._claims(token)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise unauthorized("token has no subject (sub)")
        return Principal(subject, scopes_of(claims), self._tenants_of(claims))

    def _tenants_of(self, claims: dict) -> frozenset[str] | None:
        if TENANTS_CLAIM not in claims:
            return self.default_tenants
        try:
            return parse_tenants(claims[TENANTS_CLAIM], f"{TENANTS_CLAIM} claim")
        except ValueError as exc:
            raise unauthorized(f"invalid token: {exc}") from None

    async def _claims(self, token: str) -> dict:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:
            raise unauthorized("malformed token") from None
        if algorithm == "HS256" and self.secret:
            key = self.secret
        elif algorithm == "RS256" and self.jwks:
            try:
                key = (await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWKClientConnectionError as exc:
                raise ApiError(503, f"cannot fetch the signing keys: {exc}", headers={"Retry-After": "5"}) from None
            except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
                raise unauthorized(f"no signing key for this token: {exc}") from None
        else:
            raise unauthorized(f"token algorithm {algorithm!r} is not accepted here")
        required = ["exp", "sub"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])
        try:
            return jwt.decode(token, key, algorithms=[algorithm], audience=self.audience, issuer=self.issuer,
                              leeway=self.leeway, options={"require": required})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("token not yet valid (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("token issuer is not accepted") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("token signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"invalid token: {exc}") from None
