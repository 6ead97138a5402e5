"""The records that flow between stages (NotificationEvent -> ChannelMessage -> DeliveryEvent)
and their stable ids: a redelivered message yields the same delivery and event ids, so
downstream stores can de-duplicate on them."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

NOTIFICATION = "tidings.NotificationEvent"
CHANNEL_MESSAGE = "tidings.ChannelMessage"
DELIVERY = "tidings.DeliveryEvent"

_NAMESPACE = uuid.UUID("6f1c2a52-6a44-4e0e-9d1f-3b1f5b0e7a10")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def lane(priority_symbol: str) -> str:
    """Avro enum symbol (URGENT) -> topic lane name (urgent)."""
    return priority_symbol.lower()


def delivery_id(notification_id: Any, channel: str) -> str:
    """One delivery per (notification, channel), the same however often the router sees the event."""
    return uuid5_text(_NAMESPACE, f"{notification_id}/{channel}")


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """str(uuid.uuid5(namespace, name)) without building a UUID object, which costs more than the
    hash (the router makes two ids per delivery)."""
    h = hashlib.sha1(namespace.bytes + name.encode()).hexdigest()
    # RFC 4122: version 5 in the 13th digit, the variant (10xx) in the top bits of the 17th.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def delivery_event(message: dict, status: str, *, clock: Clock = utcnow, attempt: int | None = None,
                   **fields: Any) -> dict:
    """A DeliveryEvent for a ChannelMessage. The event id is derived from (delivery, status,
    attempt, replay), so reprocessing the same message after a crash records nothing twice."""
    attempt = message.get("attempt", 1) if attempt is None else attempt
    replay = message.get("replay", 0)
    name = f"{message['delivery_id']}/{status}/{attempt}" + (f"/replay-{replay}" if replay else "")
    event = {
        "event_id": uuid5_text(_NAMESPACE, name),
        "notification_id": str(message["notification_id"]),
        "delivery_id": str(message["delivery_id"]),
        "channel": message["channel"],
        "priority": message["priority"],
        "status": status,
        "attempt": attempt,
        "replay": replay,
        "recipient_id": message.get("recipient_id"),
        "source": message.get("source"),
        "tenant": message.get("tenant"),
        "category": message.get("category"),
        "occurred_at": clock(),
    }
    event.update(fields)
    return event


def channel_content(content: dict, channel: str) -> dict:
    """The channel's own content entry, else the 'default' entry, else empty."""
    return content.get(channel) or content.get("default") or {}
