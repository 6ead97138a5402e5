"""The records that flow between stages (NotificationEvent -> ChannelMessage -> DeliveryEvent)
and their stable ids: a redelivered message yields the same delivery and event ids, so
downstream stores can de-duplicate on them."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

NOTIFICATION = "tidings.NotificationEvent"
CHANNEL_MESSAGE = "tidings.ChannelMessage"
DELIVERY = "tidings.DeliveryEvent"

_NAMESPACE = uuid.UUID("6f1c2a52-6a44-4e0e-9d1f-3b1f5b0e7a10")
_NAMESPACE_BYTES = _NAMESPACE.bytes  # UUID.bytes is computed on every read
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def lane(priority_symbol: str) -> str:
    """Avro enum symbol (URGENT) -> topic lane name (urgent)."""
    return priority_symbol.lower()


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """str(uuid.uuid5(namespace, name)) without building a UUID object, which costs more than the
    hash (the router makes two ids per delivery)."""
    h = hashlib.sha1(namespace.bytes + name.encode()).hexdigest()
    # RFC 4122: version 5 in the 13th digit, the variant (10xx) in the top bits of the 17th.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def time_ordered_id(at: Any, name: str) -> str:
    """uuid5 of `name` laid out as a UUIDv7, as text: the first 48 bits are `at` in Unix milliseconds.
    The same (at, name) gives the same id, and ids made around one time sort together, so a unique
    index takes new ones near its right edge (random ids each land on a random page: at 20M events
    those pages miss Postgres' cache). Without a usable `at`, the plain uuid5."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if not isinstance(at, datetime):
        return uuid5_text(_NAMESPACE, name)
    named = int.from_bytes(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16], "big")
    h = f"{_millis(at) << 80 | _V7_MARKS | named & _NAMED_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_LOW_76 = (1 << 76) - 1
# Version 7 in bits 76-79, then uuid5's bits with its RFC 4122 variant (10) in bits 62-63.
_V7_MARKS = 0x7 << 76 | 0x2 << 62
_NAMED_BITS = _LOW_76 & ~(0x3 << 62)


def new_id(at: datetime) -> uuid.UUID:
    """A fresh UUIDv7 (`at` in Unix milliseconds, then random bits), for an id Tidings makes up
    (a notification published without one): time-ordered for the same reason as time_ordered_id."""
    return uuid.UUID(int=_millis(at) << 80 | 0x7 << 76 | uuid.uuid4().int & ((1 << 76) - 1))


def _millis(at: datetime) -> int:
    """48 bits of Unix milliseconds, in integers: a float product could put a whole millisecond
    (as Avro carries it) one below, and the id would differ between the router and a redo."""
    aware = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return (aware - _EPOCH) // _MILLISECOND & (1 << 48) - 1


def delivery_id(notification_id: Any, channel: str, created_at: Any = None) -> str:
    """One delivery per (notification, channel), the same however often the router sees the event;
    time-ordered by the notification's created_at (see time_ordered_id)."""
    return time_ordered_id(created_at, f"{notification_id}/{channel}")


def delivery_event(message: dict, status: str, *, clock: Clock = utcnow, attempt: int | None = None,
                   **fields: Any) -> dict:
    """A DeliveryEvent for a ChannelMessage. The event id is derived from (delivery, status,
    attempt, replay) and the notification's created_at, so reprocessing the same message after a
    crash records nothing twice."""
    attempt = message.get("attempt", 1) if attempt is None else attempt
    replay = message.get("replay", 0)
    name = f"{message['delivery_id']}/{status}/{attempt}" + (f"/replay-{replay}" if replay else "")
    event = {
        "event_id": time_ordered_id(message.get("created_at"), name),
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
