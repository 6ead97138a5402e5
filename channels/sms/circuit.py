"""A circuit breaker per SMS provider: after N consecutive transient failures the provider is
skipped for a cool-down, then one trial attempt decides whether it closes again."""
from __future__ import annotations

import time
from typing import Callable


class CircuitBreaker:
    def __init__(self, failures: int = 5, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = max(1, failures)
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.consecutive = 0
        self.opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        """Open while cooling down; after the cool-down it lets a trial attempt through."""
        return self.opened_at is not None and self.clock() - self.opened_at < self.cooldown_s

    def remaining_s(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        self.consecutive = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.consecutive += 1
        # A failed trial after the cool-down (opened_at still set) re-opens at once.
        if self.consecutive >= self.failures or self.opened_at is not None:
            self.opened_at = self.clock()
