"""The webhook channel's settings (TIDINGS_WEBHOOK_*), read by its provider through
`settings.section(WebhookSettings)`."""
from __future__ import annotations

from pydantic import SecretStr

from consumer.settings import Section


class WebhookSettings(Section):
    # Webhook: total and connect timeouts of one request, the request body cap, signing secrets
    # ("whsec_..." comma-separated, several during rotation) and named credentials (a JSON object
    # name -> {"type": "bearer", "token": ...} | {"type": "basic", "username": ..., "password": ...});
    # per endpoint (scheme://host:port) a concurrency limit and a circuit breaker (0 failures = off).
    webhook_timeout_s: float = 30.0
    webhook_concurrency: int = 100
    webhook_connect_timeout_s: float = 5.0
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_signing_secrets: SecretStr | None = None
    webhook_credentials: SecretStr | None = None
    webhook_per_endpoint_concurrency: int = 20
    webhook_endpoint_wait_s: float = 5.0
    webhook_circuit_failures: int = 0
    webhook_circuit_cooldown_s: float = 30.0
    # SSRF protection: internal hosts/subnets a webhook may reach ("127.0.0.1, 10.1.0.0/16, hooks.internal");
    # empty = public Internet addresses only. A 410 answer disables an endpoint (in Postgres when
    # database_url is set) until `tidings endpoints enable URL`; re-read every few seconds.
    webhook_allowed_targets: str | None = None
    webhook_endpoints_refresh_s: float = 5.0
    # Per-endpoint signing secrets (JSON: URL or scheme://host[:port] -> ["whsec_...", ...]); unlisted
    # endpoints are signed with a secret derived from webhook_signing_secrets and the URL
    # (`tidings endpoints secret URL`).
    webhook_endpoint_secrets: SecretStr | None = None
