"""The JSON form of a NotificationEvent (what `tidings publish` and the HTTP gateway accept),
validated by its model (consumer/notification_model.py) and turned into the Avro record. Errors
name the field at fault."""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from consumer.channel_specs import folded_addresses, legacy_fields
from consumer.contracts import first_problem
from consumer.events import Clock, new_id, utcnow
from consumer.notification_model import MAX_CHANNELS, notification_model
from consumer.text_rules import ControlCharacter, notification_flaw

__all__ = ["MAX_CHANNELS", "ForbiddenCharacter", "InvalidNotification", "notification_from_json"]
# Built once: json.dumps with separators builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class InvalidNotification(ValueError):
    """The JSON does not describe a valid notification; the message says which field and why."""


class ForbiddenCharacter(InvalidNotification, ControlCharacter):
    """A field holds a character its rule refuses (consumer/text_rules.py): NUL, a control
    character, an unpaired surrogate. The gateway answers 400 for it rather than 422."""


def notification_from_json(obj: Any, clock: Clock = utcnow) -> dict:
    if not isinstance(obj, dict):
        raise InvalidNotification("expected a JSON object")
    # The character rules first, the ones the router applies to events from any producer, so that
    # no later message quotes a control character.
    if (problem := notification_flaw(obj)) is not None:
        raise ForbiddenCharacter(problem)
    try:
        notification = notification_model().model_validate(obj)
    except ValidationError as exc:
        raise InvalidNotification(str(first_problem(exc))) from None
    return _record(notification.model_dump(by_alias=True), obj, clock)


def _record(n: dict, given: dict, clock: Clock) -> dict:
    """The Avro record of a validated notification (`n`, dumped by its JSON names); options are
    kept as the sender wrote them (`given`), as JSON text."""
    created_at = n["created_at"] or clock()
    return {
        "id": str(n["id"] or new_id(created_at)),
        "created_at": created_at,
        "priority": (n["priority"] or "normal").upper(),
        "source": n["source"],
        "tenant": n["tenant"] or "default",
        "category": n["category"] or "general",
        "channels": n["channels"],
        "recipient": _recipient(n["recipient"]),
        "content": _content(n["content"] or {}, given.get("content") or {}),
        "data": _COMPACT.encode(n["data"] or {}),
        "expires_at": n["expires_at"],
        "idempotency_key": n["idempotency_key"],
        "send_at": n["send_at"],
        "digest": {"key": n["digest"]["key"], "window_ms": n["digest"]["window"]} if n["digest"] else None,
        "fallback": [{"channel": step["channel"], "after_ms": step["after"], "unless": step["unless"]}
                     for step in n["fallback"] or []],
    }


def _recipient(r: dict) -> dict:
    out = {"id": r["id"], **{field: r[field] for field in legacy_fields()}, "locale": r["locale"],
           "timezone": r["timezone"]}
    inline = {channel: address for channel, address in (r["addresses"] or {}).items() if address is not None}
    out["addresses"] = folded_addresses({**out, "addresses": inline})
    return out


def _content(content: dict, given: dict) -> dict:
    out = {}
    for key, entry in content.items():
        if entry is None:
            continue
        template = entry["template"]
        out[key] = {"template": {"name": template["name"], "version": template["version"]} if template else None,
                    "options": _COMPACT.encode(given[key].get("options") or {}),
                    "subject": entry["subject"], "text": entry["text"], "html": entry["html"]}
    return out
