"""Telling an outage of a stage's own dependencies (the broker, Postgres) from a message's own
problem: an outage holds the stage and is retried with backoff for as long as it lasts; anything
else a message makes the code raise is that message's problem (consumer.isolation).

Connection-level errors are outages; errors about the data (a value Postgres refuses, a message
the broker will never take) are not."""
from __future__ import annotations

import psycopg
from confluent_kafka import KafkaError, KafkaException

from consumer.publisher import PublishError

# Broker answers about the message itself: retrying the same message can never succeed.
_MESSAGE_ERRORS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD,
                             KafkaError._BAD_MSG, KafkaError.INVALID_MSG,
                             KafkaError.INVALID_MSG_SIZE, KafkaError.RECORD_LIST_TOO_LARGE})


def dependency_of(exc: BaseException) -> str | None:
    """'postgres' or 'kafka' when `exc` means that dependency is unreachable, else None."""
    if isinstance(exc, psycopg.InterfaceError):
        return "postgres"
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the connection failed. Classes 08 (connection), 53 (resources), 57
        # (shutdown, cancel), 58 (system): the server. Others (54 program limits...) are the data's.
        state = exc.sqlstate
        return "postgres" if state is None or state[:2] in ("08", "53", "57", "58") else None
    if isinstance(exc, PublishError):
        return None if exc.code in _MESSAGE_ERRORS else "kafka"
    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        code = error.code() if isinstance(error, KafkaError) else None
        return None if code in _MESSAGE_ERRORS else "kafka"
    return None


def too_large(exc: BaseException) -> bool:
    return isinstance(exc, PublishError) and exc.code in (KafkaError.MSG_SIZE_TOO_LARGE,
                                                          KafkaError.RECORD_LIST_TOO_LARGE)


class Backoff:
    """Exponential backoff with a cap: 0.5 s, 1 s, 2 s ... `cap_s`."""

    def __init__(self, first_s: float = 0.5, cap_s: float = 30.0):
        self.first_s, self.cap_s = first_s, cap_s

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1 = the first retry)."""
        return min(self.cap_s, self.first_s * 2 ** max(0, attempt - 1))
