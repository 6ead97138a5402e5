"""The headers a message carries through retry tiers and the dead-letter topic: why it failed,
where it came from, when it is due. One place, so producers and the operator CLI agree.

All values are UTF-8 text; times are ISO 8601 UTC with milliseconds and a Z."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from typing import Iterable

from confluent_kafka import Message

PREFIX = "tidings-"
ATTEMPT = "tidings-attempt"                  # the attempt that failed (1 = first delivery)
FIRST_FAILURE_AT = "tidings-first-failure-at"
DUE_AT = "tidings-due-at"                    # retry topics: not to be attempted before this
RETRY_TIER = "tidings-retry-tier"
ORIGINAL_TOPIC = "tidings-original-topic"    # the main-lane topic it first failed from
ORIGINAL_PARTITION = "tidings-original-partition"
ORIGINAL_OFFSET = "tidings-original-offset"
ERROR_CLASS = "tidings-error-class"
ERROR_MESSAGE = "tidings-error-message"      # truncated to MAX_ERROR_MESSAGE characters
CONSUMER_GROUP = "tidings-consumer-group"
STAGE = "tidings-stage"                      # dead-letter topic: router | channel-<name> | sink
REASON = "tidings-reason"                    # dead-letter topic: permanent | retries_exhausted | undecodable | ...
DEAD_LETTERED_AT = "tidings-dead-lettered-at"
NOTIFICATION_ID = "tidings-notification-id"
DELIVERY_ID = "tidings-delivery-id"
CHANNEL = "tidings-channel"
REPLAYED_FROM = "tidings-replayed-from"      # set by `tidings dlq replay`: "<dlq topic>/<partition>/<offset>"
VALUE_DROPPED = "tidings-value-dropped"      # DLQ: the value was too large for the broker ("N bytes: why")
HELD_UNTIL = "tidings-held-until"            # held by the router (consumer/holds.py): not sent before this
HELD_FOR = "tidings-held-for"                # why: scheduled | quiet_hours | digest | fallback
DIGEST = "tidings-digest"                    # a digest's close marker: the digest id (router/digests.py)
FALLBACK_STEP = "tidings-fallback-step"      # a held fallback step: its number (2 = the first after `channels`)
FALLBACK_PREVIOUS = "tidings-fallback-previous"  # the channel of the step before it
FALLBACK_UNLESS = "tidings-fallback-unless"  # the goal that spares it: sent | delivered | read

MAX_ERROR_MESSAGE = 500


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@lru_cache(maxsize=4096)  # a batch's messages share their due and held-until times: parsed once
def time_or_none(value: bytes | str | None) -> datetime | None:
    """A header time as written by any producer: None when absent, empty or not a time (headers
    come from outside too, so nothing here may raise); naive times are read as UTC."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not value:
        return None
    try:
        moment = parse_time(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def attempt_of(message: Message) -> int:
    """tidings-attempt, 0 when absent or not a number."""
    return max(0, int_or(read(message).get(ATTEMPT), 0))


def read(message: Message) -> dict[str, str]:
    """A message's tidings-* headers as text (other headers are ignored)."""
    return {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "")
            for k, v in (message.headers() or ()) if k.startswith(PREFIX)}


@dataclass
class FailureContext:
    """Where a failing message came from; carried unchanged from the first failure to the DLQ."""

    original_topic: str
    original_partition: int
    original_offset: int
    first_failure_at: datetime
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, message: Message, now: datetime) -> "FailureContext":
        """From a message that failed: its own position, or the one its headers carry when it is
        already a retry."""
        headers = read(message)
        if headers.get(ORIGINAL_TOPIC):
            return cls(headers[ORIGINAL_TOPIC], int_or(headers.get(ORIGINAL_PARTITION), -1),
                       int_or(headers.get(ORIGINAL_OFFSET), -1), time_or_none(headers.get(FIRST_FAILURE_AT)) or now)
        return cls(message.topic(), message.partition(), message.offset(), now)

    def headers(self, *, attempt: int, error_class: str, error_message: str, group: str,
                more: dict[str, str | None] | None = None) -> list[tuple[str, bytes]]:
        values = {
            ATTEMPT: str(attempt),
            FIRST_FAILURE_AT: iso(self.first_failure_at),
            ORIGINAL_TOPIC: self.original_topic,
            ORIGINAL_PARTITION: str(self.original_partition),
            ORIGINAL_OFFSET: str(self.original_offset),
            ERROR_CLASS: error_class,
            ERROR_MESSAGE: (error_message or "")[:MAX_ERROR_MESSAGE],
            CONSUMER_GROUP: group,
            **self.extra,
            **{k: v for k, v in (more or {}).items() if v is not None},
        }
        return [(k, v.encode()) for k, v in values.items()]


def due_at(message: Message) -> datetime | None:
    """tidings-due-at; None when absent or unreadable (then the message is due now)."""
    for key, value in message.headers() or ():
        if key == DUE_AT:
            return time_or_none(value)
    return None


def without_failure_headers(headers: Iterable[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers or () if not k.startswith(PREFIX)]
