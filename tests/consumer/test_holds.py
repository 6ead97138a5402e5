"""A hold longer than every retry tier rides the tiers in legs (RetryPolicy.hop): each leg on the
longest tier that fits is due exactly one delay after it was parked (so the tier's arrival order
stays its due order), the last leg is due at the target itself, and a 3-day wait costs O(days x 24)
legs on the default tiers, not a partition held for 3 days."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from consumer import failure_headers as h
from consumer.holds import QUIET_HOURS, Hold, first_leg, next_leg_headers
from consumer.retry_policy import RetryPolicy
from consumer.retry_tiers import parse_tiers
from consumer.topics import Topics

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
DEFAULT = RetryPolicy(parse_tiers("10s,1m,10m,1h"))


def ride(policy: RetryPolicy, until: datetime, lateness_s: float) -> list:
    """Every leg to `until`, each taken `lateness_s` after it came due (as a loaded worker would)."""
    now, legs = NOW, []
    while now < until:
        step = policy.hop(until, now)
        legs.append((now, step))
        assert step.due_at <= until
        now = step.due_at + timedelta(seconds=lateness_s)
    return legs


def test_a_three_day_schedule_costs_one_leg_an_hour_and_ends_on_time():
    until = NOW + timedelta(days=3, minutes=25, seconds=7)
    legs = ride(DEFAULT, until, lateness_s=0.4)
    assert 72 <= len(legs) <= 72 + 2 + 9 + 5 + 2  # hours, then tens of minutes, minutes, ten seconds
    for parked, step in legs:
        if step.due_at != until:  # a whole leg: due exactly its tier's delay after it was parked
            assert step.due_at - parked == timedelta(seconds=step.tier.delay_s)
    assert legs[-1][1].due_at == until  # lateness of earlier legs is not added up
    assert sum(1 for _, s in legs if s.tier.name == "1h") == 72


def test_park_would_have_held_the_longest_tier_for_the_whole_wait():
    assert DEFAULT.park(3 * 86400, NOW).due_at == NOW + timedelta(days=3)  # why hop exists
    assert DEFAULT.hop(NOW + timedelta(days=3), NOW).due_at == NOW + timedelta(hours=1)


def test_a_wait_shorter_than_every_tier_is_one_leg_due_at_its_end():
    step = DEFAULT.hop(NOW + timedelta(seconds=4), NOW)
    assert (step.tier.name, step.due_at) == ("10s", NOW + timedelta(seconds=4))
    assert DEFAULT.hop(NOW - timedelta(seconds=1), NOW).due_at == NOW  # already due: at once


def test_the_router_s_first_leg_and_the_worker_s_next_legs_carry_the_hold():
    message = {"delivery_id": "d1", "notification_id": "n1", "channel": "webhook", "priority": "LOW"}
    hold = Hold(NOW + timedelta(hours=2, seconds=30), QUIET_HOURS)
    topic, step, headers = first_leg(message, hold, DEFAULT, Topics("t"), "g.router", NOW)
    assert topic == "t.channel.webhook.retry.1h" and step.due_at == NOW + timedelta(hours=1)
    values = {k: v.decode() for k, v in headers}
    assert values[h.HELD_UNTIL] == h.iso(hold.until) and values[h.HELD_FOR] == QUIET_HOURS
    assert values[h.ATTEMPT] == "0" and values[h.ORIGINAL_TOPIC] == "t.channel.webhook.low"
    assert values[h.NOTIFICATION_ID] == "n1" and values[h.DUE_AT] == h.iso(step.due_at)
    later = DEFAULT.hop(hold.until, step.due_at)
    moved = dict((k, v.decode()) for k, v in next_leg_headers(headers, later))
    assert moved[h.DUE_AT] == h.iso(later.due_at) and moved[h.RETRY_TIER] == "1h"
    assert {k: v for k, v in moved.items() if k not in (h.DUE_AT, h.RETRY_TIER)} == \
        {k: v for k, v in values.items() if k not in (h.DUE_AT, h.RETRY_TIER)}
