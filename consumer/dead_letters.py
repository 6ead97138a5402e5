"""Dead-lettering: a message no stage can use goes to <prefix>.dlq at once, with the original
bytes and key, where it came from, why, and which stage rejected it. Never dropped, never fatal."""
from __future__ import annotations

import asyncio
import logging

from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.events import Clock, utcnow
from consumer.metrics import ServiceMetrics
from consumer.outages import too_large
from consumer.publisher import Publisher, PublishError
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
        return asyncio.ensure_future(self._publish(raw.value() if value is None else value, raw.key(), headers))

    async def _publish(self, value: bytes | None, key, headers: list[tuple[str, bytes]]) -> None:
        try:
            await self.publisher.publish(self.topic, value, key=key, headers=headers)
        except PublishError as exc:
            if not too_large(exc):
                raise
            # The broker takes no message this big: the dead letter says so and keeps its headers;
            # the original stays readable at its origin (topic/partition/offset) until retention.
            log.error("dead letter too large for the broker (%d bytes): sent without its value", len(value or b""))
            dropped = (h.VALUE_DROPPED, f"{len(value or b'')} bytes: {exc}".encode())
            await self.publisher.publish(self.topic, None, key=key, headers=[*headers, dropped])

    def poison(self, raw: Message, reason: str, detail: str) -> asyncio.Future:
        """Input that cannot be decoded or validated: counted, logged with its position, dead-lettered."""
        self.metrics.poison.labels(self.metrics.service, raw.topic(), reason).inc()
        attempt = h.attempt_of(raw)
        return self.send(raw, reason=reason, error_class=reason, error_message=detail, attempt=attempt)


def identity(message: dict) -> dict[str, str]:
    """Headers that let operators filter the DLQ without decoding values."""
    return {h.NOTIFICATION_ID: str(message["notification_id"]), h.DELIVERY_ID: str(message["delivery_id"]),
            h.CHANNEL: message["channel"]}
