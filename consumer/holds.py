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


# What hold_of reads, in its one pass over a message's headers.
_READ = frozenset((h.HELD_UNTIL, h.HELD_FOR, h.FALLBACK_STEP, h.FALLBACK_PREVIOUS, h.FALLBACK_UNLESS,
                   h.NOTIFICATION_ID, h.DELIVERY_ID, h.CHANNEL))


@dataclass(frozen=True)
class HeldMessage:
    """A held message's hold and identity, as the channel worker judges it."""

    hold: Hold
    notification_id: str
    delivery_id: str
    channel: str


def hold_of(message: Message) -> HeldMessage | None:
    """The hold a message carries, with its identity; None for every message the router did not
    hold (only held ones cost a cancellation check). One pass over the headers: every message of a
    worker passes here, so no dict of them all."""
    found = {key: value for key, value in message.headers() or () if key in _READ}
    until = h.time_or_none(found.get(h.HELD_UNTIL))
    if until is None:
        return None
    text = {key: value.decode("utf-8", "replace") for key, value in found.items() if key != h.HELD_UNTIL and value}
    reason = text.get(h.HELD_FOR, SCHEDULED)
    step = None
    if reason == FALLBACK and h.FALLBACK_PREVIOUS in text:
        step = FallbackStep(h.int_or(text.get(h.FALLBACK_STEP), 2), text[h.FALLBACK_PREVIOUS],
                            text.get(h.FALLBACK_UNLESS, "sent"))
    return HeldMessage(Hold(until, reason, step), text.get(h.NOTIFICATION_ID, ""), text.get(h.DELIVERY_ID, ""),
                       text.get(h.CHANNEL, ""))


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
