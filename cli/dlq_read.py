"""Reading the dead-letter topic for `tidings dlq`: every message from offset 0, its failure
headers, the filters operators select with, and the payload decoded for display or replay."""
from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from confluent_kafka import Consumer, KafkaError, TopicPartition

from consumer import failure_headers as fh
from consumer.codec import Codec, DecodeError
from consumer.events import CHANNEL_MESSAGE, NOTIFICATION
from consumer.settings import Settings


class DeadLetterTopicMissing(RuntimeError):
    """The dead-letter topic does not exist on the broker."""


@dataclass(frozen=True)
class DeadLetter:
    """One message on the dead-letter topic, read once and kept in memory."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int | None

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def failure(self) -> dict[str, str]:
        """The tidings-* headers as text."""
        return {k: (v or b"").decode("utf-8", "replace") for k, v in self.headers if k.startswith(fh.PREFIX)}

    @property
    def channel(self) -> str | None:
        failure = self.failure
        stage = failure.get(fh.STAGE, "")
        return failure.get(fh.CHANNEL) or (stage.removeprefix("channel-") if stage.startswith("channel-") else None)

    @property
    def error_class(self) -> str | None:
        return self.failure.get(fh.ERROR_CLASS)

    @property
    def dead_lettered_at(self) -> datetime | None:
        text = self.failure.get(fh.DEAD_LETTERED_AT)
        try:
            return fh.parse_time(text) if text else _from_millis(self.timestamp_ms)
        except ValueError:
            return _from_millis(self.timestamp_ms)


@dataclass(frozen=True)
class DeadLetterFilter:
    """The operator's selection: every given criterion must hold."""

    channel: str | None = None
    error: str | None = None        # an error class or a reason, case-insensitive
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        if self.channel and letter.channel != self.channel:
            return False
        if self.error:
            wanted = self.error.lower()
            failure = letter.failure
            if wanted not in ((failure.get(fh.ERROR_CLASS) or "").lower(), (failure.get(fh.REASON) or "").lower()):
                return False
        moment = letter.dead_lettered_at
        if self.since and (moment is None or moment < self.since):
            return False
        if self.until and (moment is None or moment > self.until):
            return False
        return True


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_moment(text: str, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> datetime:
    """ISO 8601 (UTC when no zone is given) or a duration ago: 90s, 15m, 2h, 7d."""
    if match := _DURATION.match(text.strip()):
        return now() - timedelta(**{_UNITS[match[2]]: float(match[1])})
    moment = fh.parse_time(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_dead_letters(settings: Settings, topic: str, idle_s: float = 2.0, timeout_s: float = 300.0) -> list[DeadLetter]:
    """Every message of `topic`, with a throwaway consumer assigned from offset 0 (no group, no commits).

    The end of a partition is its partition-EOF event (measured to be right with Tansu 0.6, whose
    ListOffsets watermarks are not); a broker that never reports EOF ends the read after `idle_s`
    without a new message."""
    consumer = Consumer({**settings.kafka_common(), "group.id": f"tidings-dlq-reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise DeadLetterTopicMissing(f"topic {topic} does not exist; run `tidings topics create`")
        waiting = set(metadata.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in waiting])
        letters: list[DeadLetter] = []
        last_new = time.monotonic()
        deadline = last_new + timeout_s
        while waiting and time.monotonic() - last_new < idle_s and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        waiting.discard(message.partition())
                    continue
                waiting.add(message.partition())  # more arrived after its EOF: read on
                letters.append(DeadLetter(message.topic(), message.partition(), message.offset(), message.key(),
                                          message.value(), list(message.headers() or ()), message.timestamp()[1]))
                last_new = time.monotonic()
        return sorted(letters, key=lambda d: (d.partition, d.offset))
    finally:
        consumer.close()


@dataclass
class Payload:
    """A dead letter's value: a ChannelMessage, a NotificationEvent, or bytes no codec reads."""

    kind: str                       # "channel_message" | "notification" | "raw"
    record: dict[str, Any] | None = None
    raw: bytes = field(default=b"")

    def as_json(self) -> dict[str, Any]:
        if self.record is not None:
            return {"kind": self.kind, "record": jsonable(self.record)}
        return {"kind": "raw", "hex": self.raw.hex(), "text": self.raw.decode("utf-8", "backslashreplace")}


def decode_payload(codec: Codec, value: bytes | None) -> Payload:
    for kind, name in (("channel_message", CHANNEL_MESSAGE), ("notification", NOTIFICATION)):
        try:
            return Payload(kind, codec.decode(name, value), value or b"")
        except DecodeError:
            continue
    return Payload("raw", None, value or b"")


def notification_id_of(letter: DeadLetter, payload: Payload) -> str | None:
    if known := letter.failure.get(fh.NOTIFICATION_ID):
        return known
    if payload.kind == "channel_message":
        return str(payload.record["notification_id"])
    if payload.kind == "notification":
        return str(payload.record["id"])
    return None


def summarize(letters: list[DeadLetter], total: int, codec: Codec, samples: int = 5) -> dict[str, Any]:
    """Counts by (channel, error class), most first, and the first few as samples: `dlq list --json`
    and the gateway's GET /v1/dlq."""
    groups = Counter((letter.channel, letter.error_class) for letter in letters)
    return {"total": total, "matching": len(letters),
            "groups": [{"channel": c, "error_class": e, "count": n}
                       for (c, e), n in sorted(groups.items(), key=lambda kv: -kv[1])],
            "samples": [{"notification_id": notification_id_of(letter, decode_payload(codec, letter.value)),
                         "channel": letter.channel, "reason": letter.failure.get(fh.REASON),
                         "error_class": letter.error_class, "error_message": letter.failure.get(fh.ERROR_MESSAGE),
                         "position": letter.position} for letter in letters[:samples]]}


def jsonable(value: Any) -> Any:
    """Decoded Avro (datetimes, UUIDs, decimals, bytes) as JSON-ready values."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return fh.iso(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _from_millis(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms and ms > 0 else None
