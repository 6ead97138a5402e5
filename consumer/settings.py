"""Typed settings, each model owned by the part of Tidings that uses it: `Settings` here is the
runtime's (Kafka, topics, Postgres, the consume loop, the router and the sink); every channel owns
one in channels/<name>/settings.py (its ChannelSpec names it) and the gateway owns
gateway/settings.py. All are pydantic-settings models read once at start from TIDINGS_<FIELD>
environment variables and the config file's [tidings] table (TIDINGS_CONFIG); secrets are SecretStr.

A process loads the runtime's Settings and takes its own section from it with
`settings.section(Model)`: the same environment and file, plus any overrides the Settings was made
with (tests and the demo pass a channel's fields as keyword arguments)."""
from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


# The environment and config-file table a load reads; unset when a model is made from keyword
# arguments alone (then only defaults and the arguments count, as the tests expect).
_SOURCES: contextvars.ContextVar[tuple[Mapping[str, str], dict[str, Any]] | None] = \
    contextvars.ContextVar("tidings_settings_sources", default=None)

S = TypeVar("S", bound="Section")


class _Environment(EnvSettingsSource):
    """TIDINGS_<FIELD> from the environment given to the load (os.environ by default)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _SOURCES.get()[0]
        return {k.lower(): v for k, v in environ.items()}


class _ConfigTable(PydanticBaseSettingsSource):
    """The config file's [tidings] table, below the environment."""

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        table = _SOURCES.get()[1]
        return {name: table[name] for name in self.settings_cls.model_fields if name in table}


_SECTIONS: list[type["Section"]] = []


def known_sections() -> list[type["Section"]]:
    """Every settings model this process has: the runtime's, each registered channel's, and any
    other defined so far (the gateway's, in the gateway)."""
    from consumer.channel_specs import registry

    for spec in registry().values():  # importing a channel's model registers it
        if spec.settings is not None and spec.settings not in _SECTIONS:
            _SECTIONS.append(spec.settings)
    return list(_SECTIONS)


class Section(BaseSettings):
    """A settings model: its fields are TIDINGS_<FIELD> variables and [tidings] keys."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _SECTIONS.append(cls)

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="ignore", frozen=True,
                                      case_sensitive=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        if _SOURCES.get() is None:
            return (init_settings,)
        return init_settings, _Environment(settings_cls, env_prefix="TIDINGS_"), _ConfigTable(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, values: Any) -> Any:
        """TIDINGS_X= (empty) leaves an optional setting unset, as before pydantic."""
        if isinstance(values, dict):
            for name, field in cls.model_fields.items():
                if values.get(name) == "" and not field.is_required() and field.default is None:
                    values[name] = None
        return values

    @classmethod
    def read(cls: type[S], environ: Mapping[str, str], table: dict[str, Any], **overrides: Any) -> S:
        token = _SOURCES.set((environ, table))
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None
        finally:
            _SOURCES.reset(token)

    def secrets(self) -> list[str]:
        """The values of this model's secret settings (for redaction; never log them)."""
        return [v.get_secret_value() for v in self.__dict__.values()
                if hasattr(v, "get_secret_value") and v.get_secret_value()]


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"])
        problems.append(f"setting {name} (TIDINGS_{name.upper()}): {error['msg']} (got {error.get('input')!r})")
    return "; ".join(problems)


class Settings(Section):
    """The runtime's settings. Keyword arguments that name no field of it are kept as overrides
    for the sections taken from it (see section())."""

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="allow", frozen=True, case_sensitive=False)

    bootstrap_servers: str = Field("localhost:9092", description="Kafka bootstrap servers")
    topic_prefix: str = Field("tidings", description="prefix of every topic name")
    partitions: int = Field(6, description="partitions per topic for `tidings topics create` (the same on all "
                                           "priority topics)")
    replication_factor: int = Field(1, description="replication factor for created topics")
    schema_registry_url: str | None = Field(None, description="Confluent-compatible schema registry; unset: the "
                                                              "ids of `schemas/ids.json`")
    database_url: str | None = Field(None, description="PostgreSQL conninfo or URL (the sink, the router's "
                                                       "directory and limits, `db migrate`; the demo embeds one "
                                                       "when unset)")
    metrics_host: str = Field("0.0.0.0", description="where `/metrics` and `/healthz` listen")
    metrics_port: int = Field(9400, description="the port of `/metrics` and `/healthz` (0 picks a free one)")
    group_prefix: str = Field("tidings", description="consumer groups are `<prefix>.router`, "
                                                     "`<prefix>.channel.<name>`, `<prefix>.sink`")
    batch_size: int = Field(500, description="messages fetched per batch")
    max_in_flight: int = Field(5000, description=(
        "messages fetched but unfinished before the consumer stops fetching (and pauses its partitions after a "
        "second at the bound; the sink keeps room for at least 20 of its batches); part of the bound on work "
        "redone after a crash (see [Delivery semantics](operations.md#delivery-semantics))"))
    session_timeout_ms: int = Field(10000, description="consumer group session timeout")
    shutdown_grace_s: float = Field(5.0, description=(
        "how long SIGTERM, or the revocation of partitions in a rebalance, waits for their in-flight work "
        "before committing and handing them over; work still unfinished is redone by the next owner"))
    commit_interval_ms: int = Field(200, description=(
        "how often stored offsets are committed; after a crash a consumer redoes at most what was in flight "
        "plus what finished in the last interval"))
    assignment_strategy: str = Field("cooperative-sticky", description=(
        "partition assignment: a rebalance moves only the partitions that change hands (`range` or "
        "`roundrobin` for eager rebalances, e.g. while a fleet of an older version still runs)"))
    internal_error_attempts: int = Field(3, description=(
        "a message whose handling raises is tried this many times (backoff 0.5 s, 1 s, ...), then "
        "dead-lettered as `internal_error`"))
    sink_batch_size: int = Field(1000, description="delivery events per sink batch (one transaction)")
    # A frozen Postgres server never closes the old connection, so the sink gives it up itself.
    sink_write_timeout_s: float = Field(30.0, description=(
        "a sink write Postgres has not answered in this long is given up (the connection dropped) and retried "
        "on a new connection"))
    # librdkafka refuses messages over 1,000,000 bytes by default.
    max_message_bytes: int = Field(900_000, description=(
        "the largest ChannelMessage the router fans out; an event that would need a bigger one is "
        "dead-lettered once as `too_large`"))
    log_level: str = Field("INFO", description="log level")
    retry_tiers: str = Field("10s,1m,10m,1h", description=(
        "retry tiers (durations, increasing; each names its topic, "
        "`<prefix>.channel.<channel>.retry.<tier>`, one per channel) of every channel whose spec sets no "
        "default tiers of its own"))
    retry_tiers_by_channel: dict[str, str] = Field({}, description=(
        "tiers for one channel, whichever channels are installed, e.g. `TIDINGS_RETRY_TIERS_WEBHOOK=1s,2s` "
        "(config file: `retry_tiers_<channel>`)"),
        json_schema_extra={"variable": "TIDINGS_RETRY_TIERS_<CHANNEL>", "type": "text"})
    dead_letter_max_consecutive: int = Field(50, description="dead letters in a row that trip the dead-letter "
                                                             "limit (it stops dead-lettering and holds the "
                                                             "consumer)")
    dead_letter_max_share: float = Field(0.8, description="share of the last `TIDINGS_DEAD_LETTER_WINDOW` "
                                                          "outcomes that trips it")
    dead_letter_window: int = Field(100, description="outcomes the share is computed over")
    dead_letter_cooldown_s: float = Field(60.0, description="how long a tripped limit holds the consumer before "
                                                            "trying again")
    # 0: a lane switch costs this plus the resumed partitions' first fetch, and a stage has about
    # 0.03 s of the higher lane's last batch left when its end is known, so any wait here is idle
    # time (docs/operations.md). An URGENT burst just after a resume waits behind the resumed lane's
    # small prefetch, as an URGENT event does behind any LOW backlog (queued.min.messages).
    priority_resume_after_s: float = Field(0.0, description=(
        "a lane paused behind a higher lane resumes once no higher lane has been behind for this long"))
    priority_max_pause_s: float = Field(30.0, description=(
        "a lane paused this long runs for a sixth of it even if higher lanes stay busy (0: strict, no limit)"))
    priority_lag_messages: int = Field(100, description=(
        "a lane with this many messages fetched since it last reached the end of its partitions is behind "
        "and pauses the lanes below it"))
    priority_send_slots: int = Field(100, description=(
        "concurrent sends per channel worker, handed out highest priority first; never fewer than the "
        "provider's own concurrency (`TIDINGS_WEBHOOK_CONCURRENCY`); 0: no gate"))
    rate_limits: str = Field("recipient=100/1h", description=(
        "the router's rate-limit rules, comma-separated `scope[:channel][:priority]=N/period` with scope "
        "`recipient`, `category` or `source` (see [Rate limits](operations.md#rate-limits); empty: no limits)"))
    rate_limit_action: str = Field("suppress", description=(
        "over a limit: `suppress` (recorded `suppressed`, reason `rate_limited`) or `defer` (parked on a retry "
        "tier until the next window)"))
    rate_limit_exempt: str = Field("urgent", description="comma-separated priorities that are neither limited "
                                                         "nor counted (empty: none)")
    dedup_window_s: float = Field(86400.0, description="how long an event id or idempotency key is remembered "
                                                       "(a later copy is suppressed as `duplicate`)")
    critical_categories: str = Field("", description="comma-separated categories that bypass opt-outs and "
                                                     "quiet hours, e.g. `security,fraud`")
    digest_rules: str = Field("", description=(
        "categories whose deliveries fold into digests without a `digest` in the event, comma-separated "
        "`category=window` (`comments=10m`; the key is the category; not for URGENT or critical categories); see "
        "[Digests](operations.md#digests)"))
    digest_max_items: int = Field(50, ge=1, description=(
        "a digest with this many items closes at once instead of at the end of its window"))
    held_overdue_after_s: float = Field(120.0, description=(
        "a scheduled or deferred delivery still not sent this long after its due time counts as overdue "
        "(`tidings_held_overdue_deliveries`, alert `TidingsHeldDeliveriesOverdue`); see "
        "[Scheduled sends](operations.md#scheduled-sends-and-quiet-hours)"))
    soft_bounce_limit: str = Field("3/7d", description=(
        "soft bounces of one address (per tenant and channel) within a period that put it on the suppression "
        "list, `N/period` (`3/7d`: the third within seven days; `0/7d`: never); see "
        "[Suppression list](operations.md#suppression-list)"), json_schema_extra={"type": "rate"})
    template_cache_ttl_s: float = Field(5.0, description="how often the router re-checks a template's latest "
                                                         "version")
    template_max_output_bytes: int = Field(256 * 1024, description="the cap on one rendered template part")
    template_max_render_s: float = Field(1.0, description=(
        "the time budget of one rendered template part (also when `templates push` renders the sample data)"))
    template_render_workers: int = Field(2, description=(
        "render worker processes per router, gateway or CLI, started when first needed (see "
        "[Templates: limits](templates.md#limits))"))
    template_render_memory_mb: int = Field(256, description="how much memory one render worker may add to its "
                                                            "size at start (0: no cap)")
    kafka: dict[str, Any] = Field({}, description=(
        "extra librdkafka properties (`security.protocol`, `sasl.*`, ...): a table of the config file "
        "(`TIDINGS_CONFIG`) only, no environment variable"), json_schema_extra={"variable": "[kafka]", "type": "table"})

    @field_validator("soft_bounce_limit")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        from consumer.durations import parse_rate  # it imports this module

        parse_rate(value, "TIDINGS_SOFT_BOUNCE_LIMIT")
        return value

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults < config file (TIDINGS_CONFIG) < environment (TIDINGS_<FIELD>) < overrides."""
        environ = dict(os.environ if environ is None else environ)
        table = _read_config_file(Path(environ["TIDINGS_CONFIG"])) if environ.get("TIDINGS_CONFIG") else {}
        tiers = {k.removeprefix(_TIER_PREFIX): table.pop(k) for k in list(table) if k.startswith(_TIER_PREFIX)}
        tiers |= {k.removeprefix("TIDINGS_RETRY_TIERS_").lower(): v for k, v in environ.items()
                  if k.startswith("TIDINGS_RETRY_TIERS_") and v}
        if tiers:
            overrides.setdefault("retry_tiers_by_channel", tiers)
        settings = cls.read(environ, table, **{k: v for k, v in overrides.items() if v is not None})
        object.__setattr__(settings, "_sources", (environ, table))
        return settings

    def section(self, model: type[S]) -> S:
        """The model one owner reads (a channel's, the gateway's) from the same environment and
        config file as this Settings, with the overrides it was made with. Made once, then kept."""
        sections = self.__dict__.setdefault("_sections", {})
        if model not in sections:
            environ, table = self.__dict__.get("_sources", ({}, {}))
            given = {k: v for k, v in (self.model_extra or {}).items() if k in model.model_fields}
            sections[model] = model.read(environ, table, **given)
        return sections[model]

    def __repr_args__(self):
        """The runtime's own fields only: the overrides it carries for sections may be secrets."""
        return [(name, value) for name, value in super().__repr_args__() if name in type(self).model_fields]

    def kafka_common(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap_servers, **dict(self.kafka)}

    def replace(self, **changes: Any) -> "Settings":
        """A copy with these fields (or section overrides) changed; sections are made afresh."""
        copy = self.model_copy(update=changes)
        copy.__dict__.pop("_sections", None)
        if "_sources" in self.__dict__:
            object.__setattr__(copy, "_sources", self.__dict__["_sources"])
        return copy


_TIER_PREFIX = "retry_tiers_"  # config-file keys retry_tiers_<channel>


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
