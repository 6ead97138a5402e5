"""Typed settings for every Tidings process, read once at start from TIDINGS_* environment
variables and an optional TOML file (TIDINGS_CONFIG), then passed down explicitly."""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    topic_prefix: str = "tidings"
    partitions: int = 6
    replication_factor: int = 1
    schema_registry_url: str | None = None
    database_url: str | None = None
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9400
    group_prefix: str = "tidings"
    batch_size: int = 500
    max_in_flight: int = 5000
    session_timeout_ms: int = 10000
    # How long a stop or a rebalance waits for in-flight work before leaving it to be redone.
    shutdown_grace_s: float = 5.0
    # Stored offsets are committed this often: after a crash a consumer redoes at most what was
    # in flight plus what finished in the last interval (README, "Delivery semantics").
    commit_interval_ms: int = 200
    # cooperative-sticky: a rebalance moves only the partitions that change hands.
    assignment_strategy: str = "cooperative-sticky"
    # A message whose handling raises is tried this many times, then dead-lettered (internal_error).
    internal_error_attempts: int = 3
    # Webhook: total and connect timeouts of one request, the request body cap, signing secrets
    # ("whsec_..." comma-separated, several during rotation) and named credentials (a JSON object
    # name -> {"type": "bearer", "token": ...} | {"type": "basic", "username": ..., "password": ...});
    # per endpoint (scheme://host:port) a concurrency limit and a circuit breaker (0 failures = off).
    webhook_timeout_s: float = 30.0
    webhook_concurrency: int = 100
    webhook_connect_timeout_s: float = 5.0
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_signing_secrets: str | None = field(default=None, repr=False)
    webhook_credentials: str | None = field(default=None, repr=False)
    webhook_per_endpoint_concurrency: int = 20
    webhook_endpoint_wait_s: float = 5.0
    webhook_circuit_failures: int = 0
    webhook_circuit_cooldown_s: float = 30.0
    # SSRF protection: internal hosts/subnets a webhook may reach ("127.0.0.1, 10.1.0.0/16, hooks.internal");
    # empty = public Internet addresses only. A 410 answer disables an endpoint (in Postgres when
    # database_url is set) until `tidings endpoints enable URL`; re-read every few seconds.
    webhook_allowed_targets: str | None = None
    webhook_endpoints_refresh_s: float = 5.0
    sink_batch_size: int = 1000
    # A sink write Postgres has not answered in this long is given up and retried on a new
    # connection (a frozen server never closes the old one).
    sink_write_timeout_s: float = 30.0
    # The largest ChannelMessage the router fans out (librdkafka refuses over 1,000,000 bytes by
    # default); an event that would need a bigger one is dead-lettered once as too_large.
    max_message_bytes: int = 900_000
    log_level: str = "INFO"
    # Retry tiers ("10s,1m,10m,1h"); TIDINGS_RETRY_TIERS_<CHANNEL> (config file: retry_tiers_<channel>)
    # overrides them for one channel, whichever channels are installed.
    retry_tiers: str = "10s,1m,10m,1h"
    retry_tiers_by_channel: Mapping[str, str] = field(default_factory=dict)
    # The dead-letter limit: stop dead-lettering when this many in a row, or this share of the
    # last `dead_letter_window` outcomes, would go to the DLQ; try again after the cool-down.
    dead_letter_max_consecutive: int = 50
    dead_letter_max_share: float = 0.8
    dead_letter_window: int = 100
    dead_letter_cooldown_s: float = 60.0
    # Priority lanes: a lane paused behind a busy higher lane resumes once every higher lane has been
    # idle for priority_resume_after_s; one paused for priority_max_pause_s (0 = no limit) then runs
    # for a sixth of that. Channel workers give out priority_send_slots concurrent sends, highest
    # priority first (0 = no gate).
    # 0.1: a lane switch costs this plus the resumed partitions' first fetches (0.02-0.3 s each in
    # bench.router); at 0.5 the router spent a third of a four-lane backlog waiting between lanes.
    priority_resume_after_s: float = 0.1
    priority_max_pause_s: float = 30.0
    priority_lag_messages: int = 100  # a lane with this many fetched since its end (or in flight) is behind
    priority_send_slots: int = 100
    # Rate limits (router): comma-separated rules "scope[:channel][:priority]=N/period" with scope
    # recipient | category | source; over a limit "suppress" or "defer" (to a retry tier); the
    # exempt priorities are neither limited nor counted.
    rate_limits: str = "recipient=100/1h"
    rate_limit_action: str = "suppress"
    rate_limit_exempt: str = "urgent"
    # Deduplication (router): an event id or idempotency key seen within this window is suppressed.
    dedup_window_s: float = 86400.0
    # Email (SMTP): one connection pool per worker; TLS mode implicit | starttls | none.
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_timeout_s: float = 30.0
    smtp_connections: int = 10
    smtp_max_messages_per_connection: int = 100
    smtp_max_attachment_bytes: int = 10 * 1024 * 1024
    smtp_message_id_domain: str = "tidings"
    # Slack: the bot token for chat.postMessage (never logged), the Web API base URL, the timeout of
    # one request, and how many messages per second go to one Slack channel (0 = unpaced).
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api"
    slack_timeout_s: float = 10.0
    slack_per_channel_per_s: float = 1.0
    slack_max_pacing_wait_s: float = 5.0
    # Outbound HTTP guards (channels/outbound.py): Slack incoming webhooks only on these hosts
    # (comma-separated; "*" = any host, still through the SSRF guard), the internal hosts/subnets the
    # Slack channel may reach (as webhook_allowed_targets), and per-endpoint webhook signing secrets
    # (JSON: URL or scheme://host[:port] -> ["whsec_...", ...]); unlisted endpoints are signed with a
    # secret derived from webhook_signing_secrets and the URL (`tidings endpoints secret URL`).
    slack_webhook_hosts: str = "hooks.slack.com"
    slack_allowed_targets: str | None = None
    webhook_endpoint_secrets: str | None = field(default=None, repr=False)
    # SMS: numbers normalised to E.164 (national numbers read in sms_default_region); providers tried
    # in order (twilio, sns, http), each behind a circuit breaker; USD price per segment per provider.
    sms_default_region: str = "US"
    sms_providers: str = "twilio"
    sms_prices: str = "twilio=0.0079,sns=0.00645,http=0.005"
    sms_timeout_s: float = 10.0
    sms_circuit_failures: int = 5
    sms_circuit_cooldown_s: float = 30.0
    # SMS number kinds that are sent to (phonenumbers' number types in lower case, plus
    # non_geographic: satellite and international networks); any other is refused, never sent.
    sms_allowed_number_types: str = "mobile,fixed_line,fixed_line_or_mobile"
    sms_twilio_account_sid: str | None = None
    sms_twilio_auth_token: str | None = field(default=None, repr=False)
    sms_twilio_from: str | None = None
    sms_twilio_messaging_service_sid: str | None = None
    sms_twilio_status_callback: str | None = None
    sms_twilio_base_url: str | None = None
    # The custom HTTP SMS provider: body is a template with JSON-escaped {to}, {text}, {id}; success
    # statuses like "2xx" or "200,202"; the message id is a dotted path into the JSON response.
    # AWS SNS (credentials from boto3's chain: environment, profile or role; never in events).
    sms_sns_region: str = "us-east-1"
    sms_sns_endpoint_url: str | None = None
    sms_sns_sender_id: str | None = None
    sms_sns_origination_number: str | None = None
    sms_sns_concurrency: int = 16
    sms_sns_opt_out_refresh_s: float = 300.0
    sms_http_url: str | None = None
    sms_http_method: str = "POST"
    sms_http_headers: str = field(default="{}", repr=False)
    sms_http_body: str = '{"to": "{to}", "text": "{text}", "id": "{id}"}'
    sms_http_success_status: str = "2xx"
    sms_http_message_id_field: str | None = None
    # The SSRF guard of the SMS providers that speak HTTP (twilio, http; channels/outbound_http.py):
    # internal hosts/subnets their configured URLs may reach, as webhook_allowed_targets; empty =
    # public Internet addresses only.
    sms_allowed_targets: str | None = None
    # HTTP gateway (gateway/): where it listens; JWTs are HS256 with gateway_jwt_secret and/or RS256
    # with keys from gateway_jwks_url, checked against issuer, audience and a leeway; static bearer
    # tokens (Alertmanager) are a JSON object token -> {"subject": ..., "scopes": [...]}. Rate limits
    # are "N/period" per principal and channel ("100/h"; per channel "sms=10/h,email=1000/h").
    gateway_host: str = "0.0.0.0"
    gateway_port: int = 8080
    gateway_jwt_secret: str | None = field(default=None, repr=False)
    gateway_jwks_url: str | None = None
    gateway_jwt_issuer: str | None = None
    gateway_jwt_audience: str | None = None
    gateway_jwt_leeway_s: float = 30.0
    gateway_static_tokens: str | None = field(default=None, repr=False)
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
    gateway_unsubscribe_secret: str | None = field(default=None, repr=False)
    gateway_unsubscribe_ttl_s: float = 30 * 86400.0
    gateway_public_url: str = "http://localhost:8080"
    # Alertmanager: routes, a JSON list of {"match": {label: value}, "channels": [...],
    # "recipient": {...}}, first match wins; severity -> priority as "critical=urgent,warning=high".
    gateway_alertmanager_routes: str = "[]"
    gateway_alertmanager_priorities: str = "critical=urgent,error=high,warning=high,info=normal"
    # Templates, recipients, preferences (the router, with database_url): categories that bypass
    # opt-outs ("security,fraud"), how often the router re-checks a template's latest version, and
    # the caps on one rendered part: its size and its rendering time.
    critical_categories: str = ""
    template_cache_ttl_s: float = 5.0
    template_max_output_bytes: int = 256 * 1024
    template_max_render_s: float = 1.0
    # Template render workers (router/render_pool.py): how many processes render at once (per
    # router, gateway or CLI; started when first needed), and how much memory each may add.
    template_render_workers: int = 2
    template_render_memory_mb: int = 256
    # Extra librdkafka properties (security.protocol, sasl.*, ...) from the config file's [kafka] table.
    kafka: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults < config file (TIDINGS_CONFIG) < environment (TIDINGS_<FIELD>) < overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_path = environ.get("TIDINGS_CONFIG")
        if config_path:
            values.update(_read_config_file(Path(config_path)))
        for f in fields(cls):
            raw = environ.get(f"TIDINGS_{f.name.upper()}")
            if raw is not None and f.name not in _TABLES:
                values[f.name] = raw
        tiers = {k.removeprefix(_TIER_PREFIX): values.pop(k) for k in list(values) if k.startswith(_TIER_PREFIX)}
        tiers |= {k.removeprefix("TIDINGS_RETRY_TIERS_").lower(): v for k, v in environ.items()
                  if k.startswith("TIDINGS_RETRY_TIERS_") and v}
        if tiers:
            values["retry_tiers_by_channel"] = tiers
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{name: _coerce(name, value) for name, value in values.items()})

    def kafka_common(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap_servers, **dict(self.kafka)}

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


_TYPES = {f.name: f.type for f in fields(Settings)}
_TABLES = ("kafka", "retry_tiers_by_channel")  # not read from one variable of their own
_TIER_PREFIX = "retry_tiers_"  # config-file keys retry_tiers_<channel>


def _coerce(name: str, value: Any) -> Any:
    if name not in _TYPES:
        raise SettingsError(f"unknown setting {name!r}")
    kind = _TYPES[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str | None":
            return None if value in ("", None) else str(value)
        if kind == "str":
            return str(value)
        return value
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name} (TIDINGS_{name.upper()}): {value!r} is not a valid {kind}") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"TIDINGS_CONFIG points to {path}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    tidings = dict(data.get("tidings", {}))
    if "kafka" in data:
        tidings["kafka"] = {k: str(v) for k, v in data["kafka"].items()}
    return tidings
