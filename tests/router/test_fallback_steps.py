"""The router's side of a channel fallback: each later step is held until the previous step's due
time plus its `after` (the first step's: now, send_at or the end of its quiet hours), moved on past
the recipient's quiet hours on its own channel; the step rides the tiers with headers naming it, and
a fallback no worker could follow is refused."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from consumer import failure_headers as h
from consumer.holds import FALLBACK, FallbackStep, Hold, first_leg, hold_of
from consumer.retry_policy import RetryPolicy
from consumer.retry_tiers import parse_tiers
from consumer.topics import Topics
from router.fallback import invalid_fallback, step_channels, step_holds
from router.quiet_hours import parse_window

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)  # a Wednesday


def event(**fields) -> dict:
    return {"channels": ["inapp"], "priority": "NORMAL", "category": "test", "send_at": None,
            "recipient": {"id": "u1", "timezone": "UTC"},
            "fallback": [{"channel": "email", "after_ms": 15 * 60_000, "unless": "read"},
                         {"channel": "sms", "after_ms": 3_600_000, "unless": None}], **fields}


def test_each_step_is_due_the_previous_steps_due_time_plus_its_after():
    holds = step_holds(event(), {}, NOW, frozenset())
    assert holds == {"email": Hold(NOW + timedelta(minutes=15), FALLBACK, FallbackStep(2, "inapp", "read")),
                     "sms": Hold(NOW + timedelta(minutes=75), FALLBACK, FallbackStep(3, "email", "sent"))}
    assert step_channels(event()) == ["inapp", "email", "sms"]
    assert step_holds(event(fallback=None), {}, NOW, frozenset()) == {}


def test_a_scheduled_first_step_moves_the_steps_and_quiet_hours_move_a_step_and_those_after_it():
    later = step_holds(event(send_at=NOW + timedelta(hours=2)), {}, NOW, frozenset())
    assert later["email"].until == NOW + timedelta(hours=2, minutes=15)
    quiet = {"email": [parse_window("wed 09:00-12:00")]}  # email only: inapp goes at once
    moved = step_holds(event(), quiet, NOW, frozenset())
    assert moved["email"].until == NOW.replace(hour=12)
    assert moved["sms"].until == NOW.replace(hour=13)
    urgent = step_holds(event(priority="URGENT"), quiet, NOW, frozenset())
    assert urgent["email"].until == NOW + timedelta(minutes=15)


def test_a_held_step_carries_its_number_previous_channel_and_goal_through_the_tiers():
    hold = Hold(NOW + timedelta(minutes=15), FALLBACK, FallbackStep(2, "inapp", "read"))
    message = {"channel": "email", "priority": "NORMAL", "notification_id": "n1", "delivery_id": "d1"}
    topic, _, headers = first_leg(message, hold, RetryPolicy(parse_tiers("10s,1m,10m,1h")), Topics("t"), "g", NOW)
    assert topic.endswith("email.retry.10m")
    assert (h.FALLBACK_PREVIOUS, b"inapp") in headers and (h.FALLBACK_UNLESS, b"read") in headers

    class Raw:
        def headers(self):
            return headers

    assert hold_of(Raw()).hold == hold


def test_a_fallback_that_cannot_be_followed_is_refused():
    assert invalid_fallback(event()) is None
    assert invalid_fallback(event(fallback=[])) is None
    assert "exactly one channel" in invalid_fallback(event(channels=["inapp", "webhook"]))
    assert "a channel of its own" in invalid_fallback(
        event(fallback=[{"channel": "inapp", "after_ms": 1000, "unless": "sent"}]))
