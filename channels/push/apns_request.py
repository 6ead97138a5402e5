"""The APNs request for one device: the headers (topic, push type, priority, expiration, collapse
id, the delivery id as apns-id) and the JSON payload (`aps` beside the custom data), refused before
sending when over Apple's 4 KB."""
from __future__ import annotations

import json
from typing import Any

from channels.push.device import Device
from channels.push.expiry import expiry_epoch
from channels.push.options import PushOptions
from consumer.outcomes import Permanent

MAX_PAYLOAD_BYTES = 4096  # alert and background pushes; APNs answers 413 PayloadTooLarge above
URGENT = ("URGENT", "HIGH")


def apns_headers(device: Device, message: dict, options: PushOptions, provider_token: str) -> dict[str, str]:
    # A background push must go at priority 5: APNs refuses 10 for it.
    urgent = options.push_type == "alert" and message.get("priority") in URGENT
    headers = {"authorization": f"bearer {provider_token}", "apns-topic": device.app,
               "apns-push-type": options.push_type, "apns-priority": "10" if urgent else "5",
               "apns-expiration": str(expiry_epoch(message.get("expires_at")) or 0),
               # Stable across retries, so a retried push is one notification in Apple's logs too.
               "apns-id": str(message["delivery_id"])}
    if options.collapse_key:
        headers["apns-collapse-id"] = options.collapse_key
    return headers


def apns_payload(message: dict, options: PushOptions) -> bytes | Permanent:
    aps: dict[str, Any]
    if options.push_type == "background":
        aps = {"content-available": 1}
    else:
        alert = {k: v for k, v in (("title", message.get("subject")), ("body", message.get("text"))) if v}
        aps = {k: v for k, v in (("alert", alert or None), ("badge", options.badge), ("sound", options.sound),
                                 ("thread-id", options.thread_id), ("category", options.category)) if v is not None}
        if options.mutable_content:
            aps["mutable-content"] = 1
    payload = json.dumps({**(options.data or {}), "aps": aps}, separators=(",", ":"), ensure_ascii=False).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Permanent("apns_payload_too_large", f"the payload is {len(payload):,} bytes, over APNs' "
                                                   f"{MAX_PAYLOAD_BYTES:,}", provider="apns")
    return payload
