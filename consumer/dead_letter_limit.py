"""The dead-letter limit: when nearly everything fails (a provider's credentials are wrong), stop
dead-lettering, hold the consumer and report unhealthy instead of flooding the DLQ.

A circuit breaker: closed -> tripped (for the cool-down) -> half-open, where the next success
closes it and the next would-be dead letter trips it again."""
from __future__ import annotations

from collections import deque


class DeadLetterLimit:
    def __init__(self, max_consecutive: int, max_share: float, window: int, cooldown_s: float):
        self.max_consecutive = max_consecutive
        self.max_share = max_share
        self.cooldown_s = cooldown_s
        self.recent: deque[bool] = deque(maxlen=window)
        self.consecutive = 0
        self.tripped_until: float | None = None
        self.half_open = False
        self.trips = 0

    @classmethod
    def from_settings(cls, settings) -> "DeadLetterLimit":
        return cls(settings.dead_letter_max_consecutive, settings.dead_letter_max_share,
                   settings.dead_letter_window, settings.dead_letter_cooldown_s)

    def is_tripped(self, now: float) -> bool:
        if self.tripped_until is not None and now >= self.tripped_until:
            self.tripped_until, self.half_open = None, True
        return self.tripped_until is not None

    def succeeded(self, now: float) -> None:
        self.is_tripped(now)
        self.half_open = False
        self.consecutive = 0
        self.recent.append(False)

    def admit_dead_letter(self, now: float) -> bool:
        """May this failure be dead-lettered? False trips (or keeps) the limit: hold instead."""
        if self.is_tripped(now):
            return False
        would_be = list(self.recent)[1:] + [True] if len(self.recent) == self.recent.maxlen else [*self.recent, True]
        share = sum(would_be) / len(would_be)
        full_window = len(would_be) == self.recent.maxlen
        if self.half_open or self.consecutive + 1 >= self.max_consecutive or (full_window and share >= self.max_share):
            self.tripped_until = now + self.cooldown_s
            self.half_open = False
            self.trips += 1
            return False
        self.consecutive += 1
        self.recent.append(True)
        return True
