"""The FCM HTTP v1 `message` for one device: a notification (subject as title, text as body) or a
data message, the custom data as strings, and the Android, APNs and web push blocks that carry the
collapse key, the TTL from expires_at and the priority; the options' overrides merged last."""
from __future__ import annotations

import json
import operator
from typing import Any

from channels.push.device import Device
from channels.push.expiry import expiry_epoch, ttl_seconds
from channels.push.options import PushOptions

URGENT = ("URGENT", "HIGH")
# The request body's encoding (compact, UTF-8 as is), made once rather than on every send; what it
# encodes is built here from parsed JSON and text, so it holds no cycle to look for.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
# Encoded platform blocks by everything they depend on; cleared when full (expiring pushes make
# a new key every second, everything else repeats).
MAX_ENCODED_BLOCKS = 1024
_encoded_blocks: dict[tuple, str] = {}
# Every option but the data, which the blocks never read: a new option is part of the key at once.
_block_options = operator.attrgetter(*(name for name in PushOptions.model_fields if name != "data"))


def fcm_message(device: Device, message: dict, options: PushOptions, now: float) -> dict:
    head, timing = _head(device, message, options, now)
    return {**head, **_platform_blocks(options, *timing)}


def fcm_body(device: Device, message: dict, options: PushOptions, now: float) -> bytes:
    """The request body, `{"message": fcm_message(...)}` encoded compact and UTF-8, byte for byte;
    the platform blocks, the same for every push with the same options and timing, are encoded
    once for those instead of for every push."""
    head, timing = _head(device, message, options, now)
    # head holds the token, so it is never `{}`: its closing brace gives way to the blocks.
    return f'{{"message":{_ENCODE(head)[:-1]},{_encoded_platform_blocks(options, *timing)}}}}}'.encode()


def _head(device: Device, message: dict, options: PushOptions, now: float) -> tuple[dict, tuple]:
    """The per-push part (token, notification, data), and what the platform blocks take besides
    the options: urgent, the TTL, the expiry and whether a notification is shown."""
    alert = options.push_type == "alert"
    urgent = alert and message.get("priority") in URGENT
    head: dict[str, Any] = {"token": device.token}
    notification = {}
    if title := message.get("subject"):
        notification["title"] = title
    if body := message.get("text"):
        notification["body"] = body
    if alert and notification:
        head["notification"] = notification
    if options.data:
        # FCM takes strings only: anything else travels as its JSON text.
        head["data"] = {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
                        for k, v in options.data.items()}
    expires_at = message.get("expires_at")
    return head, (urgent, ttl_seconds(expires_at, now), expiry_epoch(expires_at), "notification" in head)


def _platform_blocks(options: PushOptions, urgent: bool, ttl: int | None, epoch: int | None, shown: bool) -> dict:
    return {"android": merged(_android(options, urgent, ttl, shown), options.android),
            "apns": merged(_apns(options, urgent, epoch), options.apns),
            "webpush": merged(_webpush(urgent, ttl), options.webpush)}


def _encoded_platform_blocks(options: PushOptions, urgent: bool, ttl: int | None, epoch: int | None,
                             shown: bool) -> str:
    """`"android":{...},"apns":{...},"webpush":{...}`, kept by all it depends on; options with
    overrides (dicts, unhashable) are encoded every time."""
    key = (urgent, ttl, epoch, shown, _block_options(options))
    try:
        encoded = _encoded_blocks.get(key)
    except TypeError:
        return _ENCODE(_platform_blocks(options, urgent, ttl, epoch, shown))[1:-1]
    if encoded is None:
        if len(_encoded_blocks) >= MAX_ENCODED_BLOCKS:
            _encoded_blocks.clear()
        encoded = _encoded_blocks[key] = _ENCODE(_platform_blocks(options, urgent, ttl, epoch, shown))[1:-1]
    return encoded


def _android(options: PushOptions, urgent: bool, ttl: int | None, shown: bool) -> dict:
    android: dict[str, Any] = {"priority": "HIGH" if urgent else "NORMAL"}
    if options.collapse_key:
        android["collapse_key"] = options.collapse_key
    if ttl is not None:
        android["ttl"] = f"{ttl}s"
    extras = {k: v for k, v in (("sound", options.sound), ("tag", options.thread_id),
                                ("click_action", options.category)) if v is not None}
    if shown and extras:
        android["notification"] = extras
    return android


def _apns(options: PushOptions, urgent: bool, epoch: int | None) -> dict:
    headers = {"apns-priority": "10" if urgent else "5", "apns-push-type": options.push_type}
    if epoch is not None:
        headers["apns-expiration"] = str(epoch)
    if options.collapse_key:
        headers["apns-collapse-id"] = options.collapse_key
    aps: dict[str, Any] = {k: v for k, v in (("sound", options.sound), ("badge", options.badge),
                                             ("thread-id", options.thread_id), ("category", options.category))
                           if v is not None}
    if options.mutable_content:
        aps["mutable-content"] = 1
    if options.push_type == "background":
        aps = {"content-available": 1}
    return {"headers": headers, **({"payload": {"aps": aps}} if aps else {})}


def _webpush(urgent: bool, ttl: int | None) -> dict:
    headers = {"Urgency": "high" if urgent else "normal"}
    if ttl is not None:
        headers["TTL"] = str(ttl)
    return {"headers": headers}


def merged(base: dict, override: dict | None) -> dict:
    """`override` laid over `base`: objects merged key by key, anything else replaced."""
    result = dict(base)
    for key, value in (override or {}).items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result
