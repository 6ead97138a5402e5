"""The notification's JSON form as a pydantic model: what `tidings publish` and POST /v1/notifications
accept, and (as JSON Schema) the gateway's OpenAPI. consumer/notification_json.py turns it into the
Avro record. Built once per process from the channel registry: the channel names, each channel's
address and options model, so a new channel needs no edit here."""
from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (BaseModel, BeforeValidator, Field, RootModel, StrictInt, ValidationError, create_model,
                      model_validator)

from consumer.channel_specs import channel_names, registry
from consumer.durations import parse_duration
from consumer.settings import SettingsError
from consumer.contracts import (IGNORE_UNKNOWN, UNKNOWN_FIELDS, ContractModel, Text, expecting, first_problem,
                                refusal)
from consumer.recipient_model import notification_recipient_model
from consumer.topics import PRIORITIES

# Far more than there are channels: a longer list is a mistake or an attack (200 x "webhook" once
# made 200 requests for one delivery), refused before anything is said about its names.
MAX_CHANNELS = 16


def _uuid(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise refusal("uuid", f"{value!r} is not a UUID") from None


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise refusal("timestamp", "expected an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise refusal("timestamp", f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise refusal("timestamp", f"{value!r} has no timezone (add Z or +00:00)")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 pushed out of range by its offset
        raise refusal("timestamp", f"{value!r} is out of range") from None


def _priority(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refusal("text", "expected a non-empty string")
    if value.lower() not in PRIORITIES:
        raise refusal("priority", f"{value.lower()!r} is not one of {', '.join(PRIORITIES)}")
    return value.lower()


def _channel_list(value: Any) -> Any:
    """The length first (2,000 unknown names are one mistake, not 2,000), then the names, then repeats."""
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise refusal("channels", "expected a non-empty list of channel names")
    if len(value) > MAX_CHANNELS:
        raise refusal("channels", f"{len(value)} names listed; at most {MAX_CHANNELS}, each channel once")
    if unknown := [c for c in value if c not in channel_names()]:
        raise refusal("unknown_channel", f"unknown channel(s) {', '.join(unknown)} "
                                         f"(known: {', '.join(channel_names())})")
    if len(set(value)) != len(value):
        raise refusal("channels", "a channel is listed twice")
    return value


Uuid = Annotated[UUID, BeforeValidator(_uuid)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
Priority = Annotated[Literal[PRIORITIES], BeforeValidator(_priority)]


class TemplateRef(ContractModel):
    name: Text = Field(description="the template's name")
    version: StrictInt | None = Field(None, description="a version to pin; the latest when left out")


def _template(value: Any) -> Any:
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict):
        raise refusal("template", 'expected a name or {"name": ..., "version": N}')
    return value


class ContentEntry(ContractModel):
    """What one channel (or every channel without an entry of its own, as `default`) sends: inline
    text, or a template rendered with the notification's data. A channel's entry takes its options
    through the channel's model (content_entry)."""

    template: Annotated[TemplateRef, BeforeValidator(_template, json_schema_input_type=str | TemplateRef)] | None = \
        Field(None, description="a template name, or {name, version}")
    subject: Text | None = None
    text: Text | None = None
    html: Text | None = None
    options: dict[str, Any] | None = Field(None, description="options for the channels it goes to")


def content_entry(spec: Any) -> type[ContentEntry]:
    """The entry of one channel (EmailContent, ...), its options validated by the channel's model."""
    if spec.options is None:  # a channel that takes any JSON object
        return ContentEntry
    return create_model(f"{spec.name.title().replace('-', '').replace('_', '')}Content", __base__=ContentEntry,
                        options=(spec.options | None, Field(None, description=f"the {spec.name} channel's options")))


class ContentByChannel(ContractModel):
    """`content`: one entry per channel name, and `default`."""

    @classmethod
    def unknown_message(cls, unknown: list[str], known: tuple[str, ...]) -> str:
        return f"{unknown[0]!r} is not a channel name or 'default'"


# A digest window and a fallback step's wait: a duration (consumer/durations.py), 1 s to 7 days.
MAX_WAIT_S = 7 * 86400
MAX_FALLBACK_STEPS = 5


def _wait(value: Any) -> int:
    """`15m` -> 900000 milliseconds."""
    if not isinstance(value, str):
        raise refusal("duration", "expected a duration such as 30s, 15m or 1h")
    try:
        seconds = parse_duration(value, "duration")
    except SettingsError:
        raise refusal("duration", f"{value!r} is not a duration such as 30s, 15m or 1h") from None
    if not 1 <= seconds <= MAX_WAIT_S:
        raise refusal("duration", f"{value!r}: between 1s and 7d")
    return round(seconds * 1000)


Wait = Annotated[int, BeforeValidator(_wait), Field(json_schema_extra={"type": "string", "examples": ["15m"]})]


class DigestRequest(ContractModel):
    """`digest`: fold this notification with the others of the same recipient, channel and key."""

    key: Text = Field(description="what folds together (a thread, a project): at most 256 characters", max_length=256)
    window: Wait = Field(description="how long a digest collects from its first notification: 30s to 7d, e.g. 10m")


class FallbackStepRequest(ContractModel):
    """One step of `fallback`: its channel, when it is considered and what spares it."""

    channel: str = Field(description="a channel name")
    after: Wait = Field(description="how long after the previous step was sent, e.g. 15m")
    unless: Literal["sent", "delivered", "read"] = Field("sent", description=(
        "skip this step (and the rest) if by then the previous step's delivery was sent, delivered (a receipt) "
        "or read (the in-app inbox)"))


class NotificationBase(ContractModel):
    """Checks across fields; notification_model() adds the fields, which depend on the channels."""

    required = {"channels": "expected a non-empty list of channel names",
                "recipient": "expected an object with at least an id"}

    @model_validator(mode="after")
    def _source_and_default_options(self) -> "NotificationBase":
        if self.source is None:  # optional in the schema: the gateway sets it from the token
            raise refusal("source", "source: required")
        if self.send_at is not None and self.expires_at is not None and self.send_at >= self.expires_at:
            raise refusal("send_at", "send_at: not before expires_at (it would expire before it is sent)")
        check_fallback(self.channels, self.fallback or [])
        check_default_options(self)
        return self


def check_fallback(channels: list[str], steps: list[FallbackStepRequest]) -> None:
    """A fallback follows one channel, each step on a channel of its own, known and not repeated."""
    if not steps:
        return
    if len(steps) > MAX_FALLBACK_STEPS:
        raise refusal("fallback", f"fallback: at most {MAX_FALLBACK_STEPS} steps")
    if len(channels) != 1:
        raise refusal("fallback", "fallback: follows exactly one channel in `channels` (the first step)")
    seen = list(channels)
    for index, step in enumerate(steps):
        if step.channel not in channel_names():
            raise refusal("fallback", f"fallback[{index}].channel: {step.channel!r} is not a channel name")
        if step.channel in seen:
            raise refusal("fallback", f"fallback[{index}].channel: {step.channel!r} is already a step")
        seen.append(step.channel)


def check_default_options(notification: Any) -> None:
    """`content.default` goes to every listed channel without an entry of its own, its options too:
    each such channel's model judges their values (ignoring names it does not have), and a name no
    such channel has is refused, as a typo would be in a channel's own entry."""
    content = notification.content
    options = content.default.options if content is not None and content.default is not None else None
    if not options:
        return
    falling_back = [c for c in notification.channels if c not in _given(content)]
    if not falling_back:
        return
    models = [registry()[c].options for c in falling_back]
    if any(model is None for model in models):  # a channel that takes any JSON object
        return
    for channel, model in zip(falling_back, models):
        try:
            model.model_validate(options, context=IGNORE_UNKNOWN)
        except ValidationError as exc:
            problem = first_problem(exc, "content.default.options")
            raise refusal(problem.kind, f"{problem} (for {channel})") from None
    known = {name for model in models for name in model.field_names()}
    if unknown := sorted(set(options) - known):
        raise refusal(UNKNOWN_FIELDS, f"content.default.options: unknown field(s): {', '.join(unknown)} (no option "
                                      f"of {', '.join(falling_back)})")


def _given(content: BaseModel | None) -> set[str]:
    """The entries `content` has, by channel name (and default)."""
    if content is None:
        return set()
    fields = type(content).model_fields
    return {fields[name].alias for name in content.model_fields_set if getattr(content, name) is not None}


@functools.cache
def content_model() -> type[BaseModel]:
    entries = {"default": (ContentEntry | None, Field(None, alias="default", description=(
        "for every listed channel without an entry of its own")))}
    for index, spec in enumerate(registry().values()):
        entries[f"channel_{index}"] = (content_entry(spec) | None, Field(None, alias=spec.name))
    return create_model("Content", __base__=ContentByChannel, **entries)


@functools.cache
def notification_model() -> type[BaseModel]:
    """The notification, with the channel enum, addresses and options of the channels registered."""
    channel = Literal[channel_names()]
    return create_model(
        "Notification", __base__=NotificationBase,
        id=(Uuid | None, Field(None, description="a UUID; made up when left out")),
        created_at=(Timestamp | None, Field(None, description="ISO 8601 with a timezone; now when left out")),
        priority=(Priority | None, Field("normal", description="the lane: urgent, high, normal or low (any case)")),
        source=(Text | None, Field(None, description=(
            "who publishes; required from `tidings publish`; the gateway uses the token's subject instead"))),
        tenant=(Text | None, Field(None, description="default when left out")),
        category=(Text | None, Field(None, description="for preferences and statistics; general when left out")),
        channels=(Annotated[list[channel], BeforeValidator(_channel_list)],
                  Field(min_length=1, max_length=MAX_CHANNELS, json_schema_extra={"uniqueItems": True},
                        description="the channels to deliver on, each once")),
        recipient=(Annotated[notification_recipient_model(), expecting("expected an object with at least an id")],
                   Field(description="whom: an id, and addresses the directory does not have or should not use")),
        content=(Annotated[content_model(), expecting("expected an object keyed by channel name or 'default'")]
                 | None, Field(None, description="channel (or default) -> what to send")),
        data=(Annotated[dict[str, Any], expecting("expected a JSON object")] | None,
              Field(None, description="the template's data, any JSON object")),
        expires_at=(Timestamp | None, Field(None, description="not delivered after this (ISO 8601 with a timezone)")),
        send_at=(Timestamp | None, Field(None, description=(
            "a scheduled send: not delivered before this (ISO 8601 with a timezone); cancellable until it goes "
            "out; in the past: at once (within the shortest retry tier); left out: at once"))),
        idempotency_key=(Text | None, Field(None, description="the same key from the same source is published once")),
        digest=(DigestRequest | None, Field(None, description=(
            "fold into one message per recipient, channel and key: `{\"key\": \"comments\", \"window\": \"10m\"}`"))),
        fallback=(list[FallbackStepRequest] | None, Field(None, max_length=MAX_FALLBACK_STEPS, description=(
            "after the one channel in `channels`, further channels in order, each taken only if the previous "
            "delivery did not reach `unless` within `after`: `[{\"channel\": \"email\", \"after\": \"15m\", "
            "\"unless\": \"read\"}]`"))))


@functools.cache
def notification_request_model(max_batch: int) -> type[BaseModel]:
    """POST /v1/notifications: one notification, or a batch of 1 to `max_batch` (TIDINGS_GATEWAY_MAX_BATCH)."""
    notification = notification_model()
    batch = Annotated[list[notification], Field(min_length=1, max_length=max_batch)]
    return create_model("NotificationRequest", __base__=RootModel[notification | batch])
