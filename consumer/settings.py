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

from pydantic import ValidationError, model_validator
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
    retry_tiers_by_channel: dict[str, str] = {}
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
    kafka: dict[str, Any] = {}

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
