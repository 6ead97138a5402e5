"""The webhook channel's settings (TIDINGS_WEBHOOK_*), read by its provider through
`settings.section(WebhookSettings)`."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class WebhookSettings(Section):
    webhook_timeout_s: float = Field(30.0, description="total timeout of one webhook request")
    webhook_concurrency: int = Field(100, description="concurrent webhook connections per worker")
    webhook_connect_timeout_s: float = Field(5.0, description="connect timeout (`TIDINGS_WEBHOOK_TIMEOUT_S` is "
                                                              "the total)")
    webhook_max_body_bytes: int = Field(1024 * 1024, description="larger request bodies are refused")
    webhook_signing_secrets: SecretStr | None = Field(None, description=(
        "comma-separated `whsec_...` master secrets, newest first; each endpoint is signed with one secret "
        "derived from each (`tidings endpoints secret URL`)"))
    webhook_credentials: SecretStr | None = Field(None, description=(
        "JSON: `{\"name\": {\"type\": \"bearer\", \"token\": \"...\", \"hosts\": [\"api.example.com\"]}, "
        "\"other\": {\"type\": \"basic\", \"username\": \"...\", \"password\": \"...\", "
        "\"hosts\": [\"*.example.net\"]}}`; `hosts` is required"))
    webhook_per_endpoint_concurrency: int = Field(20, description="concurrent requests per endpoint "
                                                                  "(scheme://host:port)")
    webhook_endpoint_wait_s: float = Field(5.0, description="longest wait for an endpoint slot before parking "
                                                            "the send on a retry tier")
    webhook_circuit_failures: int = Field(0, description=(
        "consecutive transient failures that open an endpoint's circuit (0: off)"))
    webhook_circuit_cooldown_s: float = Field(30.0, description="how long an open circuit refuses before one "
                                                                "probe")
    webhook_allowed_targets: str | None = Field(None, description=(
        "comma-separated host names, addresses and subnets webhooks may reach although internal, e.g. "
        "`hooks.internal, 10.1.0.0/16, 127.0.0.1`; unset: public addresses only"))
    webhook_endpoints_refresh_s: float = Field(5.0, description=(
        "how often each worker re-reads the endpoints disabled by a 410 (with `TIDINGS_DATABASE_URL`; without "
        "it a worker remembers 410s itself until restart)"))
    webhook_endpoint_secrets: SecretStr | None = Field(None, description=(
        "JSON: endpoint URL or origin -> its own `whsec_...` secrets, e.g. "
        "`{\"https://hooks.example.com/t\": [\"whsec_new\", \"whsec_old\"]}`; these endpoints are signed "
        "with these only"))
