"""When a push stops being worth delivering: the notification's `expires_at`, as FCM's TTL and
APNs' apns-expiration want it."""
from __future__ import annotations

import math
from datetime import datetime, timezone


def expiry_epoch(expires_at: datetime | None) -> int | None:
    """expires_at in whole epoch seconds, rounded up; None when unset."""
    return None if expires_at is None else math.ceil(_timestamp(expires_at))


def ttl_seconds(expires_at: datetime | None, now: float) -> int | None:
    """Seconds left until expires_at (0 once past), None when the notification never expires."""
    return None if expires_at is None else max(0, math.ceil(_timestamp(expires_at) - now))


def _timestamp(expires_at: datetime) -> float:
    if expires_at.tzinfo is None:  # Avro decodes timestamp-millis as naive UTC
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    return expires_at.timestamp()
