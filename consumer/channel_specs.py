"""What a channel is, declared once by the channel itself: a ChannelSpec in `channels/<name>/spec.py`
(or in any installed package, through the entry-point group `tidings.channels`). Topics, CLI
choices, validation, template parts, scopes, metric labels and deployment files derive from here.

Specs are small declarations: the provider is named as "module:factory" and imported only by the
worker that runs it, so reading the registry never imports a provider's SDK."""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tidings.channels"
BUILT_IN_PACKAGE = "channels"  # every subpackage with a `spec` module is a channel
PART_KINDS = ("plain", "one_line", "html", "json")
ESCAPES = (None, "html", "slack", "markdownv2")  # router/sandbox.py ESCAPINGS
FAILURE_KINDS = ("transient", "permanent", "suppressed")  # consumer/outcomes.py


class AddressInvalid(ValueError):
    """A recipient address this channel cannot deliver to; the message says why."""


@dataclass(frozen=True)
class TemplatePart:
    """A part a channel's template may have: `plain` text, `one_line` (line breaks folded),
    `html` (data HTML-escaped) or `json` (rendered text parsed as JSON); `escape` names how data
    printed into it is escaped (Slack's mrkdwn: & < >)."""

    name: str
    kind: str = "plain"
    escape: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PART_KINDS:
            raise ValueError(f"template part {self.name!r}: kind {self.kind!r} is not one of {', '.join(PART_KINDS)}")
        if self.kind == "html" and self.escape is None:
            object.__setattr__(self, "escape", "html")
        if self.escape not in ESCAPES:
            raise ValueError(f"template part {self.name!r}: escape {self.escape!r} is not one of html, slack, markdownv2")


@dataclass(frozen=True)
class Failure:
    """An error class a channel's deliveries may end with: `transient` (retried through the tiers),
    `permanent` (dead-lettered) or `suppressed` (the recipient's own choice). `<...>` in the class
    stands for a part filled in from the answer (`teams_http_<status>`); a class that is transient
    for some answers and permanent for others is declared once per kind."""

    error_class: str
    kind: str
    meaning: str

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"failure {self.error_class!r}: kind {self.kind!r} is not one of "
                             f"{', '.join(FAILURE_KINDS)}")


# What the one outbound HTTP kit (channels/outbound_http.py, channels/outbound.py) answers for a
# request that got no usable answer, whichever HTTP channel made it (ChannelSpec.http_kit).
HTTP_KIT_FAILURES = (
    Failure("invalid_url", "permanent", "the URL cannot be used as it is"),
    Failure("target_refused", "permanent", "the SSRF guard refused the host or its addresses"),
    Failure("redirect_refused", "permanent", "a 3xx answer; redirects are not followed"),
    Failure("timeout", "transient", "no complete answer within the channel's timeout"),
    Failure("<aiohttp error>", "transient", "the connection failed; the class is the aiohttp error's name"),
)
# What any channel's worker records when its provider raised instead of answering (channels/worker.py).
RUNTIME_FAILURES = (
    Failure("internal_error", "transient", "the provider raised an exception instead of answering"),
)


@dataclass(frozen=True)
class ChannelSpec:
    """Everything the rest of Tidings needs to know about one channel."""

    name: str
    summary: str
    # The recipient's address for this channel: how it is checked (returns it normalised, raises
    # AddressInvalid), and the NotificationEvent v1-v3 / directory field it was read from.
    address: str
    check_address: Callable[[str], str]
    legacy_address_field: str | None = None
    # The recipient's own id is the address (the in-app inbox: every recipient has one).
    address_is_recipient: bool = False
    # A recipient may have any number of this channel's addresses, one per device, in the device
    # directory (router/devices.py); a notification goes to every one of them, a delivery each.
    devices: bool = False
    parts: tuple[TemplatePart, ...] = (TemplatePart("text"),)
    # "package.module:Factory", called with the process settings; returns a channels.provider.Provider.
    provider: str = ""
    providers: tuple[str, ...] = ()  # provider names as metrics and the delivery log record them
    options: Any = None   # a pydantic model of content.<channel>.options, or None (any JSON object)
    settings: Any = None  # the channel's settings model (pydantic-settings), or None
    retry_tiers: str | None = None  # the channel's default tiers; TIDINGS_RETRY_TIERS when None
    docs: str = ""  # a paragraph for the generated channel page
    # The error classes its deliveries may end with (besides RUNTIME_FAILURES), and whether its
    # providers speak HTTP through the outbound kit, whose HTTP_KIT_FAILURES then apply too.
    failures: tuple[Failure, ...] = ()
    http_kit: bool = False
    # Its providers report after `sent` (delivered, undelivered, bounced, complained: receipts, see
    # tracking/receipts.py), so `sent` alone is not counted delivered; without, the provider's own
    # answer is the receipt (a webhook's 2xx) and `sent` is delivered.
    receipts: bool = False
    # docker-compose.yml, as `tidings deploy render` writes it: a channel that cannot run without
    # credentials waits behind this profile (`docker compose --profile NAME up`; not scraped by
    # default), and its service's own environment (secrets as "${VAR:-}", never a value).
    compose_profile: str | None = None
    compose_environment: dict[str, str] = field(default_factory=dict)
    # "package.module:router", a FastAPI APIRouter the gateway mounts (the inbox's feed API), and
    # "package.module:function", called by `tidings db prune` with (connection, settings) and
    # returning {what: rows removed} (the channel's own tables).
    gateway_routes: str | None = None
    prune: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """The gateway scope that may send on this channel."""
        return f"send:{self.name}"

    def part(self, name: str) -> TemplatePart | None:
        return next((p for p in self.parts if p.name == name), None)

    def load_provider(self) -> Callable:
        return _load(self.provider)

    def load_gateway_routes(self) -> Any:
        return _load(self.gateway_routes) if self.gateway_routes else None

    def load_prune(self) -> Callable | None:
        return _load(self.prune) if self.prune else None


def _load(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


class RegistryError(RuntimeError):
    """Two channels claim one name, or a plugin's spec is not a ChannelSpec."""


@functools.cache
def registry() -> dict[str, ChannelSpec]:
    """Every channel: the built-in packages, then installed plugins. Read once per process."""
    specs: dict[str, ChannelSpec] = {}

    def add(spec: Any, origin: str) -> None:
        if not isinstance(spec, ChannelSpec):
            raise RegistryError(f"{origin}: expected a ChannelSpec, got {type(spec).__name__}")
        if spec.name in specs:
            raise RegistryError(f"{origin}: channel {spec.name!r} is already defined")
        specs[spec.name] = spec

    package = importlib.import_module(BUILT_IN_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        name = f"{BUILT_IN_PACKAGE}.{info.name}.spec"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a helper package, not a channel
            raise
        add(module.SPEC, name)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        add(entry.load(), f"entry point {entry.value}")
    return dict(sorted(specs.items()))


@functools.cache
def channel_names() -> tuple[str, ...]:
    return tuple(registry())


def spec_of(channel: str) -> ChannelSpec:
    try:
        return registry()[channel]
    except KeyError:
        raise KeyError(f"unknown channel {channel!r} (known: {', '.join(channel_names())})") from None


def address_of(recipient: dict, channel: str) -> str | None:
    """The recipient's address for a channel: `addresses[channel]`, else the legacy field."""
    addresses = recipient.get("addresses") or {}
    if addresses.get(channel):
        return addresses[channel]
    spec = registry().get(channel)
    if spec is not None and spec.address_is_recipient:
        return recipient.get("id")
    field_name = spec.legacy_address_field if spec is not None else None
    return recipient.get(field_name) if field_name else None


@functools.cache
def legacy_fields() -> dict[str, str]:
    """The per-channel recipient fields of NotificationEvent v1-v3 and the directory before the
    address map (email, phone, slack, webhook_url) -> the channel each was for."""
    return {spec.legacy_address_field: spec.name for spec in registry().values() if spec.legacy_address_field}


def folded_addresses(recipient: dict) -> dict[str, str]:
    """A recipient's addresses as one map: the legacy per-channel fields, overlaid by `addresses`."""
    folded = {channel: recipient[field_name] for field_name, channel in legacy_fields().items()
              if recipient.get(field_name)}
    folded.update({channel: address for channel, address in (recipient.get("addresses") or {}).items() if address})
    return folded


def with_legacy_fields(addresses: dict[str, str]) -> dict[str, str | None]:
    """The legacy field of each channel that has one, from an address map (templates and the
    directory's JSON still show recipient.email, recipient.phone, ...)."""
    return {field_name: addresses.get(channel) for field_name, channel in legacy_fields().items()}
