"""Held deliveries: one the router parks until a time (a scheduled send's send_at, the end of the
recipient's quiet hours, a channel fallback step's turn) rides its channel's retry tiers in legs
(RetryPolicy.hop), its target in the tidings-held-until header; the channel worker sends it once
that has passed and it was not cancelled (channels/held_releases.py). Time is a topic: nothing sleeps, a restart loses nothing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.dead_letters import identity
from consumer.events import lane
from consumer.retry_policy import Retry, RetryPolicy
from consumer.topics import Topics

SCHEDULED = "scheduled"      # the event's send_at
QUIET_HOURS = "quiet_hours"  # the recipient's quiet hours (router/quiet_hours.py)
DIGEST = "digest"            # a digest's close marker, due when its window closes (router/digests.py)
FALLBACK = "fallback"        # a later step of the event's channel fallback (router/fallback.py)


@dataclass(frozen=True)
class FallbackStep:
    """A held fallback step: taken when due only if the step before it (its channel) did not reach
    `unless` by then (channels/fallback_goals.py)."""

    number: int     # 2 = the first step after the one channel in `channels`
    previous: str   # the previous step's channel
    unless: str     # sent | delivered | read


@dataclass(frozen=True)
class Hold:
    until: datetime
    reason: str  # scheduled | quiet_hours | fallback
    step: FallbackStep | None = None

    @property
    def status(self) -> str:
        """The DeliveryEvent status the router records: `scheduled` for a send_at or a fallback
        step, `deferred` (with reason quiet_hours) when quiet hours moved it."""
        return "deferred" if self.reason == QUIET_HOURS else "scheduled"


def hold_of(message: Message) -> Hold | None:
    """The hold a message carries; None for every message the router did not hold (only held ones
    cost a cancellation check)."""
    until, reason, step = None, SCHEDULED, {}
    for key, value in message.headers() or ():  # every message of a worker passes here: no dict
        if key == h.HELD_UNTIL:
            until = h.time_or_none(value)
        elif key == h.HELD_FOR and value:
            reason = value.decode("utf-8", "replace")
        elif key in (h.FALLBACK_STEP, h.FALLBACK_PREVIOUS, h.FALLBACK_UNLESS) and value:
            step[key] = value.decode("utf-8", "replace")
    if until is None:
        return None
    if reason != FALLBACK or h.FALLBACK_PREVIOUS not in step:
        return Hold(until, reason)
    return Hold(until, reason, FallbackStep(h.int_or(step.get(h.FALLBACK_STEP), 2), step[h.FALLBACK_PREVIOUS],
                                            step.get(h.FALLBACK_UNLESS, "sent")))


def step_headers(step: FallbackStep | None) -> dict[str, str]:
    return {} if step is None else {h.FALLBACK_STEP: str(step.number), h.FALLBACK_PREVIOUS: step.previous,
                                    h.FALLBACK_UNLESS: step.unless}


def first_leg(message: dict, hold: Hold, policy: RetryPolicy, names: Topics, group: str,
              now: datetime) -> tuple[str, Retry, list[tuple[str, bytes]]]:
    """Where the router publishes a held ChannelMessage: the retry topic of its first leg, and the
    headers (no attempt used; its origin is the channel lane it would have gone to, so a later dead
    letter replays there)."""
    step = policy.hop(hold.until, now)
    origin = h.FailureContext(names.channel(message["channel"], lane(message["priority"])), -1, -1, now)
    headers = origin.headers(attempt=0, error_class=hold.reason, error_message="", group=group, more={
        h.DUE_AT: h.iso(step.due_at), h.RETRY_TIER: step.tier.name, h.HELD_UNTIL: h.iso(hold.until),
        h.HELD_FOR: hold.reason, **step_headers(hold.step), **identity(message)})
    return names.retry(message["channel"], step.tier.name), step, headers


def next_leg_headers(headers: Iterable[tuple[str, bytes]] | None, step: Retry) -> list[tuple[str, bytes]]:
    """The same headers with the next leg's due time and tier (the value is re-published as is)."""
    kept = [(k, v) for k, v in headers or () if k not in (h.DUE_AT, h.RETRY_TIER)]
    return kept + [(h.DUE_AT, h.iso(step.due_at).encode()), (h.RETRY_TIER, step.tier.name.encode())]
