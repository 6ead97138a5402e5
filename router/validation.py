"""The router's check of a decoded NotificationEvent from any producer (Avro on the event topics
bypasses `tidings publish` and the gateway): the same rules, so one bad event is dead-lettered once."""
from __future__ import annotations

import json
from typing import Any

from consumer.notification_json import MAX_CHANNELS
from consumer.text_rules import json_flaw, may_decode_to_nul, notification_flaw


def invalid_field(event: dict) -> str | None:
    """What is wrong with the event, as "field: reason" (recipient.id: contains a control character
    (U+0000) at position 3), or None when it may be routed. Unknown channel names are not judged
    here: the router refuses those one channel at a time and delivers the others."""
    channels = event.get("channels") or []
    if not channels:
        return "channels: the event requests no channel"
    # First the text as it came (a raw NUL in `data` included), so that no later message quotes
    # a control character; then `data` and `options` decoded, where "\u0000" escapes become NUL.
    if (problem := notification_flaw(event)) is not None:
        return problem
    for path, raw in _json_fields(event):
        value, problem = _json_object(path, raw)
        if problem is None and raw and may_decode_to_nul(raw):
            problem = json_flaw(value, path)
        if problem is not None:
            return problem
    distinct = distinct_channels(event)
    for channel in distinct:
        if not channel.strip():
            return f"channels[{channels.index(channel)}]: an empty channel name"
    if len(distinct) > MAX_CHANNELS:
        return f"channels: {len(distinct)} distinct names; at most {MAX_CHANNELS}"
    return None


def distinct_channels(event: dict) -> list[str]:
    """The event's channels, each once, in the order first listed: ["webhook"] x 200 is one delivery."""
    return list(dict.fromkeys(event.get("channels") or []))


def _json_fields(event: dict) -> list[tuple[str, Any]]:
    """(path, raw JSON string) of `data` and every content entry's `options`."""
    fields = [("data", event.get("data"))]
    for key, entry in (event.get("content") or {}).items():
        fields.append((f"content.{key}.options", (entry or {}).get("options")))
    return fields


def _json_object(path: str, raw: Any) -> tuple[dict | None, str | None]:
    """(the decoded object, None), or (None, why it is not one). Empty or missing text stands
    for {}, as it does for the channel workers."""
    if not raw or raw == "{}":  # most options, and what producers write for no data
        return {}, None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return None, f"{path}: not valid JSON ({exc})"
    except RecursionError:
        return None, f"{path}: nested too deeply"
    if not isinstance(value, dict):
        return None, f"{path}: expected a JSON object"
    return value, None
