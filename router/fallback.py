"""Channel fallback in the router: an event's `fallback` steps are fanned out and rendered with its
one channel, and each later step is held on its channel's retry tiers until its turn (consumer/holds.py),
where the channel worker takes it or skips it (channels/fallback_goals.py).

When a step comes due cannot wait for the previous one to be sent (the router would have to sleep or
be told), so it is fixed now: the first step's due time (now, send_at or the end of its quiet hours)
plus each `after` so far, each step moved on to the end of the recipient's quiet hours on its own
channel. A previous step still on its retry tiers then has simply not been sent "by then"."""
from __future__ import annotations

from datetime import datetime, timedelta

from consumer.holds import FALLBACK, FallbackStep, Hold
from router.quiet_hours import QuietWindow, hold_for


def step_channels(event: dict) -> list[str]:
    """The channels an event is fanned out to: its own, then its fallback steps' in order."""
    return [*event["channels"], *(step["channel"] for step in event.get("fallback") or ())]


def step_holds(event: dict, quiet: dict[str, list[QuietWindow]], now: datetime,
               critical: frozenset[str]) -> dict[str, Hold]:
    """channel -> the hold of its fallback step (the first step, `channels`, is not in it)."""
    steps = event.get("fallback") or ()
    if not steps:
        return {}
    previous = event["channels"][0]
    first = hold_for(event, previous, quiet, now, critical)
    due, holds = first.until if first is not None else now, {}
    for number, step in enumerate(steps, start=2):
        due = due + timedelta(milliseconds=step["after_ms"])
        moved = hold_for({**event, "send_at": due}, step["channel"], quiet, now, critical)
        due = moved.until if moved is not None else due
        holds[step["channel"]] = Hold(due, FALLBACK, FallbackStep(number, previous, step["unless"] or "sent"))
        previous = step["channel"]
    return holds


def invalid_fallback(event: dict) -> str | None:
    """Why an event's fallback cannot be followed (any producer may publish one), or None: it follows
    exactly one channel, and each step is a channel of its own (its delivery id is made from it)."""
    steps = event.get("fallback") or []
    if not steps:
        return None
    if len(event["channels"]) != 1:
        return "fallback: follows exactly one channel in `channels` (the first step)"
    channels = step_channels(event)
    if len(set(channels)) != len(channels):
        return "fallback: each step on a channel of its own"
    return None


def describe(hold: Hold) -> str:
    """What `tidings status` shows on the step's `scheduled` record."""
    step = hold.step
    return f"fallback step {step.number}: taken unless {step.previous} was {step.unless} by then"
