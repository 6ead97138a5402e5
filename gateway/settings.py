"""The HTTP gateway's settings (TIDINGS_GATEWAY_*), read through
`settings.section(GatewaySettings)`."""
from __future__ import annotations

from pydantic import SecretStr

from consumer.settings import Section


class GatewaySettings(Section):
    # HTTP gateway (gateway/): where it listens; JWTs are HS256 with gateway_jwt_secret and/or RS256
    # with keys from gateway_jwks_url, checked against issuer, audience and a leeway; static bearer
    # tokens (Alertmanager) are a JSON object token -> {"subject": ..., "scopes": [...]}. Rate limits
    # are "N/period" per principal and channel ("100/h"; per channel "sms=10/h,email=1000/h").
    gateway_host: str = "0.0.0.0"
    gateway_port: int = 8080
    gateway_jwt_secret: SecretStr | None = None
    gateway_jwks_url: str | None = None
    gateway_jwt_issuer: str | None = None
    gateway_jwt_audience: str | None = None
    gateway_jwt_leeway_s: float = 30.0
    gateway_static_tokens: SecretStr | None = None
    gateway_rate_limit: str = "100/h"
    gateway_rate_limits: str | None = None
    gateway_max_body_bytes: int = 1024 * 1024
    gateway_max_batch: int = 500
    gateway_idempotency_ttl_s: float = 86400.0
    # Gateway tenants: what a token without a `tenants` claim acts for. "*" (the default): every
    # tenant, as before the claim existed; "a,b": those; empty: nothing (such tokens get 403).
    gateway_default_tenants: str = "*"
    # One-click unsubscribe (RFC 8058): tokens signed with this secret, valid this long; links
    # are built on gateway_public_url.
    gateway_unsubscribe_secret: SecretStr | None = None
    gateway_unsubscribe_ttl_s: float = 30 * 86400.0
    gateway_public_url: str = "http://localhost:8080"
    # Alertmanager: routes, a JSON list of {"match": {label: value}, "channels": [...],
    # "recipient": {...}}, first match wins; severity -> priority as "critical=urgent,warning=high".
    gateway_alertmanager_routes: str = "[]"
    gateway_alertmanager_priorities: str = "critical=urgent,error=high,warning=high,info=normal"
