"""Discord's rate limits as it states them, per webhook: an answer whose X-RateLimit-Remaining is 0
holds the webhook until X-RateLimit-Reset-After has passed, a 429 until its retry_after (every
webhook, when the limit was the global one). Read by the provider before each post.

Discord identifies a limit by its X-RateLimit-Bucket and the route's top-level resource, the
webhook; this channel uses one route, so the webhook id alone is the key and the bucket is logged."""
from __future__ import annotations

import logging
from typing import Mapping

from consumer.pacing import MonotonicClock

log = logging.getLogger(__name__)

GLOBAL = ""  # the key of a global limit: no webhook id is empty
# Resets already past are forgotten once this many webhooks are remembered, so memory stays bounded.
_PRUNE_AT = 10_000


class RateLimits:
    def __init__(self, clock: MonotonicClock):
        self.clock = clock
        self.resets: dict[str, float] = {}  # webhook id (or GLOBAL) -> when its limit resets

    def wait_s(self, webhook_id: str) -> float:
        """How long the webhook must wait before its next post, by what Discord said last."""
        until = max(self.resets.get(webhook_id, 0.0), self.resets.get(GLOBAL, 0.0))
        return max(0.0, until - self.clock())

    def observe(self, webhook_id: str, headers: Mapping[str, str]) -> None:
        """The X-RateLimit-* headers every answer carries."""
        if headers.get("X-RateLimit-Remaining", "").strip() != "0":
            return
        reset_after = seconds(headers.get("X-RateLimit-Reset-After"))
        if reset_after:
            log.debug("Discord webhook %s: bucket %s spent, resets in %.3fs", webhook_id,
                      headers.get("X-RateLimit-Bucket", "?")[:64], reset_after)
            self._hold(webhook_id, reset_after)

    def throttled(self, webhook_id: str, retry_after_s: float, is_global: bool) -> None:
        """A 429: nothing more to this webhook (or to any, for the global limit) for retry_after_s."""
        self._hold(GLOBAL if is_global else webhook_id, retry_after_s)

    def _hold(self, key: str, wait_s: float) -> None:
        now = self.clock()
        if len(self.resets) >= _PRUNE_AT:
            self.resets = {k: t for k, t in self.resets.items() if t > now}
        self.resets[key] = max(self.resets.get(key, 0.0), now + wait_s)


def seconds(value: object) -> float | None:
    """A non-negative number of seconds from a header or a JSON value (1.5, "1.500"), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < float("inf") else None
