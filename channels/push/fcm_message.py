"""The FCM HTTP v1 `message` for one device: a notification (subject as title, text as body) or a
data message, the custom data as strings, and the Android, APNs and web push blocks that carry the
collapse key, the TTL from expires_at and the priority; the options' overrides merged last."""
from __future__ import annotations

import json
from typing import Any

from channels.push.device import Device
from channels.push.expiry import expiry_epoch, ttl_seconds
from channels.push.options import PushOptions

URGENT = ("URGENT", "HIGH")


def fcm_message(device: Device, message: dict, options: PushOptions, now: float) -> dict:
    alert = options.push_type == "alert"
    urgent = alert and message.get("priority") in URGENT
    ttl = ttl_seconds(message.get("expires_at"), now)
    body: dict[str, Any] = {"token": device.token}
    notification = {k: v for k, v in (("title", message.get("subject")), ("body", message.get("text"))) if v}
    if alert and notification:
        body["notification"] = notification
    if options.data:
        # FCM takes strings only: anything else travels as its JSON text.
        body["data"] = {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
                        for k, v in options.data.items()}
    body["android"] = merged(_android(options, urgent, ttl, "notification" in body), options.android)
    body["apns"] = merged(_apns(options, urgent, message), options.apns)
    body["webpush"] = merged(_webpush(urgent, ttl), options.webpush)
    return body


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


def _apns(options: PushOptions, urgent: bool, message: dict) -> dict:
    headers = {"apns-priority": "10" if urgent else "5", "apns-push-type": options.push_type}
    if (epoch := expiry_epoch(message.get("expires_at"))) is not None:
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
