"""What happens after a failed attempt, decided by the runtime rather than by each channel:
the next retry tier (never sooner than the provider's Retry-After), or the dead-letter topic when
the failure is permanent or the tiers are exhausted."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from consumer.outcomes import INTERNAL_ERROR, Permanent, Transient
from consumer.retry_tiers import RetryTier


@dataclass(frozen=True)
class Retry:
    tier: RetryTier
    due_at: datetime


@dataclass(frozen=True)
class DeadLetter:
    reason: str  # permanent | retries_exhausted | internal_error


class RetryPolicy:
    def __init__(self, tiers: list[RetryTier]):
        self.tiers = tiers

    def park(self, wait_s: float, now: datetime) -> Retry:
        """Where a Deferred message waits: the shortest tier at least as long as the wait (so
        due order roughly follows arrival order within the tier), else the longest."""
        tier = next((t for t in self.tiers if t.delay_s >= wait_s), self.tiers[-1])
        return Retry(tier, now + timedelta(seconds=wait_s))

    def after(self, attempt: int, outcome: Transient | Permanent, now: datetime) -> Retry | DeadLetter:
        """`attempt` is the attempt that just failed (1 = the first delivery)."""
        if isinstance(outcome, Permanent):
            return DeadLetter("permanent")
        if attempt > len(self.tiers):
            return DeadLetter(INTERNAL_ERROR if outcome.error_class == INTERNAL_ERROR else "retries_exhausted")
        tier = self.tiers[attempt - 1]
        delay = max(tier.delay_s, outcome.retry_after_s or 0.0)
        return Retry(tier, now + timedelta(seconds=delay))
