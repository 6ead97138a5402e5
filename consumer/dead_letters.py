"""Dead-lettering: a message no stage can use goes to <prefix>.dlq at once, with the original
bytes and key, where it came from, why, and which stage rejected it. Never dropped, never fatal."""
from __future__ import annotations

import asyncio
import logging

from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.events import Clock, utcnow
from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.topics import Topics

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, publisher: Publisher, names: Topics, group: str, stage: str, metrics: ServiceMetrics,
                 clock: Clock = utcnow):
        self.publisher = publisher
        self.topic = names.dlq
        self.group = group
        self.stage = stage
        self.metrics = metrics
        self.clock = clock

    def send(self, raw: Message, *, reason: str, error_class: str, error_message: str, attempt: int = 0,
             identity: dict[str, str | None] | None = None, origin: h.FailureContext | None = None,
             value: bytes | None = None) -> asyncio.Future:
        """Publish to the DLQ; the future resolves once the broker has it."""
        now = self.clock()
        origin = origin or h.FailureContext.of(raw, now)
        headers = origin.headers(attempt=attempt, error_class=error_class, error_message=error_message,
                                 group=self.group,
                                 more={h.STAGE: self.stage, h.REASON: reason, h.DEAD_LETTERED_AT: h.iso(now),
                                       **(identity or {})})
        log.warning("dead-lettering %s[%d]@%d (%s): %s: %s", raw.topic(), raw.partition(), raw.offset(),
                    reason, error_class, error_message[:200])
        self.metrics.dead_lettered.labels(self.metrics.service, reason).inc()
        return self.publisher.publish(self.topic, raw.value() if value is None else value, key=raw.key(),
                                      headers=headers)

    def poison(self, raw: Message, reason: str, detail: str) -> asyncio.Future:
        """Input that cannot be decoded or validated: counted, logged with its position, dead-lettered."""
        self.metrics.poison.labels(self.metrics.service, raw.topic(), reason).inc()
        attempt = int(h.read(raw).get(h.ATTEMPT, "0") or 0)
        return self.send(raw, reason=reason, error_class=reason, error_message=detail, attempt=attempt)


def identity(message: dict) -> dict[str, str]:
    """Headers that let operators filter the DLQ without decoding values."""
    return {h.NOTIFICATION_ID: str(message["notification_id"]), h.DELIVERY_ID: str(message["delivery_id"]),
            h.CHANNEL: message["channel"]}
