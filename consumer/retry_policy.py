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

    def hop(self, until: datetime, now: datetime) -> Retry:
        """The next leg of a wait until `until` that may be longer than any tier (a scheduled send,
        quiet hours): the longest tier that fits in what is left, due exactly its delay from now, so
        the tier's arrival order stays its due order and nothing behind it waits longer than the
        tier; under the shortest tier, the rest on the shortest tier, due at `until`. `park` would put
        a 3-day wait on the longest tier due in 3 days, holding that partition for 3 days."""
        left = (until - now).total_seconds()
        fitting = [t for t in self.tiers if t.delay_s <= left]
        if not fitting:
            return Retry(self.tiers[0], max(until, now))
        return Retry(fitting[-1], now + timedelta(seconds=fitting[-1].delay_s))

    def after(self, attempt: int, outcome: Transient | Permanent, now: datetime) -> Retry | DeadLetter:
        """`attempt` is the attempt that just failed (1 = the first delivery)."""
        if isinstance(outcome, Permanent):
            return DeadLetter("permanent")
        if attempt > len(self.tiers):
            return DeadLetter(INTERNAL_ERROR if outcome.error_class == INTERNAL_ERROR else "retries_exhausted")
        tier = self.tiers[attempt - 1]
        delay = max(tier.delay_s, outcome.retry_after_s or 0.0)
        return Retry(tier, now + timedelta(seconds=delay))
