"""Expiry: a notification past its `expires_at` is not delivered but recorded as `expired`. The
router checks events, channel workers check each message just before sending it (retries included,
when they come due), so a one-time code stuck behind a backlog is never sent late."""
from __future__ import annotations

from datetime import datetime, timezone

from consumer import failure_headers as h
from consumer.events import Clock, delivery_event


def is_expired(record: dict, now: datetime) -> bool:
    """True when the record (NotificationEvent or ChannelMessage) has an expires_at at or before now."""
    expires_at = record.get("expires_at")
    if expires_at is None:
        return False
    if expires_at.tzinfo is None:  # Avro timestamp-millis decode as UTC
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    return expires_at <= now


def expired_event(message: dict, stage: str, clock: Clock, **fields) -> dict:
    """The `expired` DeliveryEvent of a ChannelMessage, naming the stage that noticed."""
    return delivery_event(message, "expired", clock=clock, stage=stage, reason="expired",
                          error_message=f"expired at {h.iso(message['expires_at'])}", **fields)
