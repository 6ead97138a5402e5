"""What happens to a message no stage can use (undecodable bytes, invalid record): it is logged
with topic/partition/offset and counted, never allowed to crash the consumer.

The dead-letter topic (issue: retry tiers and DLQ) will take these instead."""
from __future__ import annotations

import logging

from confluent_kafka import Message

from consumer.metrics import ServiceMetrics

log = logging.getLogger(__name__)


def report_poison(metrics: ServiceMetrics, message: Message, reason: str, detail: str) -> None:
    log.error("poison message on %s[%d] at offset %d: %s: %s",
              message.topic(), message.partition(), message.offset(), reason, detail)
    metrics.poison.labels(metrics.service, message.topic(), reason).inc()
