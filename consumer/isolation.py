"""Failure isolation for the consume loop: what happens when a service's handler raises.

One message's problem is that message's problem: a failed batch is split and each message tried
on its own; a message that keeps raising is tried `max_attempts` times with backoff, then
quarantined (dead-lettered with reason `internal_error`, the exception's class and message) and
the partition moves on. An outage of the stage's own dependencies (consumer.outages) is nobody's
message's fault: the batch is retried with backoff for as long as it lasts while the stage holds
(every partition paused, /healthz 503, tidings_dependency_up 0)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from confluent_kafka import Message

from consumer.metrics import ServiceMetrics
from consumer.outages import Backoff, dependency_of

log = logging.getLogger(__name__)

Quarantine = Callable[[Message, BaseException], Awaitable[None]]
Position = tuple[str, int, int]

MAX_DESCRIPTION = 500


def describe(exc: BaseException) -> str:
    """'ValueError: port out of range' (what the DLQ and the logs carry), truncated."""
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:MAX_DESCRIPTION]


@dataclass(frozen=True)
class Split:
    """Try each message of a failed batch on its own, now."""


@dataclass(frozen=True)
class RetryLater:
    delay_s: float
    outage: str | None = None  # the dependency that is down, when that is why


@dataclass(frozen=True)
class Quarantined:
    """Tried enough: dead-letter it (`internal_error`) and move on."""


Step = Split | RetryLater | Quarantined


def position(message: Message) -> Position:
    return message.topic(), message.partition(), message.offset()


class Isolation:
    def __init__(self, metrics: ServiceMetrics, max_attempts: int = 3, backoff: Backoff | None = None,
                 outage_backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic):
        self.metrics = metrics
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff or Backoff(0.5, 5.0)
        self.outage_backoff = outage_backoff or Backoff(0.5, 30.0)
        self.clock = clock
        self.failures: dict[Position, int] = {}   # message -> times its handler raised
        self.outages: dict[str, str] = {}         # dependency -> the last error, while it is down
        self.outage_retries = 0                   # consecutive outage retries (for the backoff)
        self.retrying_outage = 0                  # batches waiting to be retried after an outage

    def after_failure(self, messages: list[Message], exc: BaseException) -> Step:
        dependency = dependency_of(exc)
        if dependency is not None:
            if dependency not in self.outages:
                log.error("%s: %s is unavailable (%s); holding the stage and retrying with backoff",
                          self.metrics.service, dependency, describe(exc))
            self.outages[dependency] = describe(exc)
            self.metrics.dependency_up.labels(self.metrics.service, dependency).set(0)
            self.metrics.handler_failures.labels(self.metrics.service, "outage").inc()
            self.outage_retries += 1
            self.retrying_outage += 1
            return RetryLater(self.outage_backoff.delay(self.outage_retries), dependency)
        self.metrics.handler_failures.labels(self.metrics.service, "internal_error").inc()
        if len(messages) > 1:
            log.warning("%s: a batch of %d failed (%s); trying each message on its own",
                        self.metrics.service, len(messages), describe(exc), exc_info=exc)
            return Split()
        key = position(messages[0])
        failures = self.failures[key] = self.failures.get(key, 0) + 1
        if failures >= self.max_attempts:
            log.error("%s: %s[%d]@%d failed %d times (%s); dead-lettering it as internal_error",
                      self.metrics.service, *key, failures, describe(exc), exc_info=exc)
            return Quarantined()
        log.warning("%s: %s[%d]@%d failed (%s); attempt %d of %d", self.metrics.service, *key, describe(exc),
                    failures + 1, self.max_attempts, exc_info=exc)
        return RetryLater(self.backoff.delay(failures))

    def retried(self, outage: str | None) -> None:
        """A batch scheduled by RetryLater(outage=...) is about to run again."""
        if outage is not None:
            self.retrying_outage -= 1

    def succeeded(self, messages: list[Message]) -> None:
        for message in messages:
            self.failures.pop(position(message), None)
        if self.outages and self.retrying_outage == 0:
            for dependency in self.outages:
                log.info("%s: %s is back", self.metrics.service, dependency)
                self.metrics.dependency_up.labels(self.metrics.service, dependency).set(1)
            self.outages.clear()
            self.outage_retries = 0

    def quarantined(self, message: Message) -> None:
        self.failures.pop(position(message), None)

    def forget(self, keys) -> None:
        """Revoked partitions: their retry counts go with them."""
        self.failures = {p: n for p, n in self.failures.items() if (p[0], p[1]) not in keys}

    @property
    def holding(self) -> bool:
        return bool(self.outages)
