"""The dead-letter limit: when nearly everything fails (a provider's credentials are wrong), stop
dead-lettering, hold the consumer and report unhealthy instead of flooding the DLQ.

Its own trip rule (a run of would-be dead letters, or their share of a window of outcomes) opens
the one circuit breaker (consumer/circuit_breaker.py) for the cool-down; then, half-open, the first
outcome is the probe: a success closes it, a would-be dead letter trips it again."""
from __future__ import annotations

from collections import deque

from consumer.circuit_breaker import OPEN, CircuitBreaker


class DeadLetterLimit:
    def __init__(self, max_consecutive: int, max_share: float, window: int, cooldown_s: float):
        self.max_consecutive = max_consecutive
        self.max_share = max_share
        self.recent: deque[bool] = deque(maxlen=window)
        self.consecutive = 0
        # The worker passes the time into every call (its own clock), so the breaker reads it from here.
        self._now = 0.0
        self.circuit = CircuitBreaker(cooldown_s, clock=lambda: self._now)

    @classmethod
    def from_settings(cls, settings) -> "DeadLetterLimit":
        return cls(settings.dead_letter_max_consecutive, settings.dead_letter_max_share,
                   settings.dead_letter_window, settings.dead_letter_cooldown_s)

    @property
    def trips(self) -> int:
        return self.circuit.trips

    @property
    def tripped_until(self) -> float | None:
        return self.circuit.open_until

    def is_tripped(self, now: float) -> bool:
        self._now = now
        return self.circuit.state == OPEN

    def succeeded(self, now: float) -> None:
        self._now = now
        if (admission := self.circuit.admit()) is not None:
            self.circuit.succeeded(admission)
        self.consecutive = 0
        self.recent.append(False)

    def admit_dead_letter(self, now: float) -> bool:
        """May this failure be dead-lettered? False trips (or keeps) the limit: hold instead."""
        self._now = now
        admission = self.circuit.admit()
        if admission is None:
            return False
        if admission.probe:
            self.circuit.failed(admission)
            return False
        would_be = [*self.recent, True][-self.recent.maxlen:] if self.recent.maxlen else [True]
        share = sum(would_be) / len(would_be)
        full_window = len(would_be) == self.recent.maxlen
        if self.consecutive + 1 >= self.max_consecutive or (full_window and share >= self.max_share):
            self.circuit.trip()
            return False
        self.consecutive += 1
        self.recent.append(True)
        return True
