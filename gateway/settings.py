"""The HTTP gateway's settings (TIDINGS_GATEWAY_*), read through
`settings.section(GatewaySettings)`."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class GatewaySettings(Section):
    gateway_host: str = Field("0.0.0.0", description="where the gateway listens (API, `/metrics`, `/healthz`, "
                                                     "`/readyz`)")
    gateway_port: int = Field(8080, description="the gateway's port")
    gateway_jwt_secret: SecretStr | None = Field(None, description="HS256 shared secret, at least 32 bytes; "
                                                                   "never logged")
    gateway_jwks_url: str | None = Field(None, description="JWKS URL for RS256 tokens")
    gateway_jwt_issuer: str | None = Field(None, description="the required `iss` when set")
    gateway_jwt_audience: str | None = Field(None, description="the required `aud` when set")
    gateway_jwt_leeway_s: float = Field(30.0, description="clock skew allowed on `exp` / `nbf`")
    gateway_static_tokens: SecretStr | None = Field(None, description=(
        "JSON `{\"<token, 16+ chars>\": {\"subject\": \"alertmanager\", \"scopes\": [\"alertmanager\"], "
        "\"tenants\": [\"default\"]}}` (`\"tenants\"`: names or `\"*\"`; left out, "
        "`TIDINGS_GATEWAY_DEFAULT_TENANTS`); never logged"))
    gateway_rate_limit: str = Field("100/h", description="per principal and channel: `N/s`, `N/m`, `N/h`, `N/d` "
                                                         "or `N/30s`")
    gateway_rate_limits: str | None = Field(None, description="per channel: `sms=10/h,email=1000/h`")
    gateway_max_body_bytes: int = Field(1024 * 1024, description="request body cap (413 beyond it)")
    gateway_max_batch: int = Field(500, description="notifications per POST (413 beyond it)")
    gateway_idempotency_ttl_s: float = Field(86400.0, description="how long an Idempotency-Key is remembered")
    gateway_default_tenants: str = Field("*", description=(
        "the tenants a token without a `tenants` claim acts for: `*`, every tenant (as before the claim); "
        "`acme,globex`; or empty, none (such tokens get 403)"))
    gateway_unsubscribe_secret: SecretStr | None = Field(None, description=(
        "signs one-click unsubscribe tokens (RFC 8058), at least 32 bytes (unset: the unsubscribe endpoints "
        "answer 503); never logged"))
    gateway_unsubscribe_ttl_s: float = Field(30 * 86400.0, description="how long an unsubscribe link works (30 "
                                                                       "days)")
    gateway_public_url: str = Field("http://localhost:8080", description="the base of unsubscribe links")
    gateway_alertmanager_routes: str = Field("[]", description=(
        "the Alertmanager routing table: a JSON list of `{\"match\": {label: value}, \"channels\": [...], "
        "\"recipient\": {...}, \"tenant\"?}`, first match wins (see [Alertmanager](gateway.md#alertmanager)); "
        "`docker-compose.yml` sets one catch-all route, by e-mail to `oncall@example.com`"))
    gateway_alertmanager_priorities: str = Field("critical=urgent,error=high,warning=high,info=normal", description=(
        "severity -> priority (unknown severities: normal)"))
    gateway_receipt_max_body_bytes: int = Field(16 * 1024, description=(
        "the body cap of the receipt endpoints (`/v1/receipts/...`; 413 beyond it): a provider's callback is small"))
    gateway_receipt_rate_limit: str = Field("6000/m", description=(
        "receipts taken per source (Twilio, SNS, ...), across every gateway process; beyond it 429 and nothing is "
        "recorded, and a provider may not send it again: set it above your sending peak (see "
        "[Receipts](receipts.md#twilio))"))
    gateway_receipt_match_interval_s: float = Field(5.0, description=(
        "how often the gateway matches the receipts that arrived before their delivery was recorded `sent`; one "
        "that still matches nothing is tried again after twice as long each time, up to 15 minutes"))
    gateway_receipt_match_window_s: float = Field(7 * 86400.0, description=(
        "how long a receipt that matches no delivery is kept before it is given up (deleted)"))
    gateway_sns_topic_arns: str | None = Field(None, description=(
        "the SNS topics whose messages `POST /v1/receipts/sns` accepts, comma-separated ARNs "
        "(`arn:aws:sns:eu-west-1:123456789012:ses-feedback`); unset: none, every message gets 403 (see "
        "[Receipt sources](receipt-sources.md#aws-sns-ses-notifications-and-sms-delivery-status))"))
    gateway_sns_url_prefixes: str | None = Field(None, description=(
        "URL prefixes, besides `https://sns.<region>.amazonaws.com[.cn]/`, that an SNS message's `SigningCertURL` "
        "and `SubscribeURL` may start with, comma-separated (a local fake's, such as `http://127.0.0.1:9911/`; "
        "their hosts may be private addresses); unset: AWS's only"))
