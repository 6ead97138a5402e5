"""The JSON form of a NotificationEvent (what `tidings publish` and, later, the HTTP gateway
accept), validated and turned into the Avro record. Errors name the field at fault."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consumer.events import Clock, utcnow
from consumer.text_rules import ControlCharacter, notification_flaw
from consumer.topics import PRIORITIES
from consumer.channel_specs import channel_names, folded_addresses

# The per-channel address fields before recipient.addresses (still accepted, folded into it).
_RECIPIENT_FIELDS = ("email", "phone", "slack", "webhook_url", "locale", "timezone")
_CONTENT_FIELDS = ("subject", "text", "html")
# Far more than there are channels: a longer list is a mistake or an attack (200 x "webhook" once
# made 200 requests for one delivery), refused before anything is said about its names.
MAX_CHANNELS = 16


class InvalidNotification(ValueError):
    """The JSON does not describe a valid notification; the message says which field and why."""


class ForbiddenCharacter(InvalidNotification, ControlCharacter):
    """A field holds a character its rule refuses (consumer/text_rules.py): NUL, a control
    character, an unpaired surrogate. The gateway answers 400 for it rather than 422."""


def notification_from_json(obj: Any, clock: Clock = utcnow) -> dict:
    if not isinstance(obj, dict):
        raise InvalidNotification("expected a JSON object")
    if (problem := notification_flaw(obj)) is not None:
        raise ForbiddenCharacter(problem)
    unknown = set(obj) - {"id", "created_at", "priority", "source", "tenant", "category", "channels",
                          "recipient", "content", "data", "expires_at", "idempotency_key"}
    if unknown:
        raise InvalidNotification(f"unknown field(s): {', '.join(sorted(unknown))}")
    priority = _text(obj, "priority", default="normal").lower()
    if priority not in PRIORITIES:
        raise InvalidNotification(f"priority: {priority!r} is not one of {', '.join(PRIORITIES)}")
    channels = obj.get("channels")
    if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
        raise InvalidNotification("channels: expected a non-empty list of channel names")
    if len(channels) > MAX_CHANNELS:
        raise InvalidNotification(f"channels: {len(channels)} names listed; at most {MAX_CHANNELS}, each channel once")
    bad = [c for c in channels if c not in channel_names()]
    if bad:
        raise InvalidNotification(f"channels: unknown channel(s) {', '.join(bad)} (known: {', '.join(channel_names())})")
    if len(set(channels)) != len(channels):
        raise InvalidNotification("channels: a channel is listed twice")
    recipient = _recipient(obj.get("recipient"))
    data = obj.get("data", {})
    if not isinstance(data, dict):
        raise InvalidNotification("data: expected a JSON object")
    return {
        "id": _uuid(obj.get("id")) if obj.get("id") is not None else str(uuid.uuid4()),
        "created_at": _time(obj, "created_at") or clock(),
        "priority": priority.upper(),
        "source": _text(obj, "source", required=True),
        "tenant": _text(obj, "tenant", default="default"),
        "category": _text(obj, "category", default="general"),
        "channels": channels,
        "recipient": recipient,
        "content": _content(obj.get("content", {})),
        "data": json.dumps(data, separators=(",", ":")),
        "expires_at": _time(obj, "expires_at"),
        "idempotency_key": _text(obj, "idempotency_key", default=None),
    }


def _text(obj: dict, key: str, default: Any = None, required: bool = False) -> Any:
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidNotification(f"{key}: required")
        return default
    if not isinstance(value, str) or not value.strip():
        raise InvalidNotification(f"{key}: expected a non-empty string")
    return value


def _uuid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidNotification(f"id: {value!r} is not a UUID") from None


def _time(obj: dict, key: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidNotification(f"{key}: expected an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidNotification(f"{key}: {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise InvalidNotification(f"{key}: {value!r} has no timezone (add Z or +00:00)")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 pushed out of range by its offset
        raise InvalidNotification(f"{key}: {value!r} is out of range") from None


def _recipient(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidNotification("recipient: expected an object with at least an id")
    unknown = set(value) - {"id", "addresses", *_RECIPIENT_FIELDS}
    if unknown:
        raise InvalidNotification(f"recipient: unknown field(s): {', '.join(sorted(unknown))}")
    try:
        out = {"id": _text(value, "id", required=True)}
        for key in _RECIPIENT_FIELDS:
            out[key] = _text(value, key, default=None)
    except InvalidNotification as exc:
        raise InvalidNotification(f"recipient.{exc}") from None
    out["addresses"] = folded_addresses({**out, "addresses": _addresses(value.get("addresses", {}))})
    if out["timezone"] is not None:
        try:
            ZoneInfo(out["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidNotification(f"recipient.timezone: {out['timezone']!r} is not an IANA time zone "
                                      "like Europe/Lisbon") from None
    return out


def _addresses(value: Any) -> dict[str, str]:
    """recipient.addresses: channel name -> address, for channels Tidings has."""
    if not isinstance(value, dict):
        raise InvalidNotification("recipient.addresses: expected an object, channel name -> address")
    known = channel_names()
    for channel, address in value.items():
        if channel not in known:
            raise InvalidNotification(f"recipient.addresses: {channel!r} is not a channel (known: {', '.join(known)})")
        if not isinstance(address, str) or not address.strip():
            raise InvalidNotification(f"recipient.addresses.{channel}: expected a non-empty string")
    return dict(value)


def _content(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidNotification("content: expected an object keyed by channel name or 'default'")
    out = {}
    for key, entry in value.items():
        if key != "default" and key not in channel_names():
            raise InvalidNotification(f"content: {key!r} is not a channel name or 'default'")
        if not isinstance(entry, dict):
            raise InvalidNotification(f"content.{key}: expected an object")
        unknown = set(entry) - {"template", "options", *_CONTENT_FIELDS}
        if unknown:
            raise InvalidNotification(f"content.{key}: unknown field(s): {', '.join(sorted(unknown))}")
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise InvalidNotification(f"content.{key}.options: expected a JSON object")
        out[key] = {"template": _template(key, entry.get("template")),
                    "options": json.dumps(options, separators=(",", ":"))}
        try:
            for field in _CONTENT_FIELDS:
                out[key][field] = _text(entry, field, default=None)
        except InvalidNotification as exc:
            raise InvalidNotification(f"content.{key}.{exc}") from None
    return out


def _template(key: str, value: Any) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise InvalidNotification(f"content.{key}.template: expected a name or {{\"name\": ..., \"version\": N}}")
    version = value.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidNotification(f"content.{key}.template.version: expected an integer")
    return {"name": value["name"], "version": version}
