"""Retry tiers in order, Retry-After honoured when longer, dead letters when permanent or exhausted."""
from datetime import datetime, timedelta, timezone

from consumer.outcomes import Permanent, Transient, classify_http
from consumer.retry_policy import DeadLetter, Retry, RetryPolicy
from consumer.retry_tiers import parse_tiers

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
POLICY = RetryPolicy(parse_tiers("1s,2s"))


def test_transient_failures_walk_the_tiers_then_dead_letter():
    first = POLICY.after(1, Transient("http_503"), NOW)
    second = POLICY.after(2, Transient("http_503"), NOW)
    assert first == Retry(POLICY.tiers[0], NOW + timedelta(seconds=1))
    assert second == Retry(POLICY.tiers[1], NOW + timedelta(seconds=2))
    assert POLICY.after(3, Transient("http_503"), NOW) == DeadLetter("retries_exhausted")


def test_retry_after_longer_than_the_tier_is_honoured_and_shorter_is_not_used():
    assert POLICY.after(1, Transient("http_429", retry_after_s=3), NOW).due_at == NOW + timedelta(seconds=3)
    assert POLICY.after(1, Transient("http_429", retry_after_s=0.2), NOW).due_at == NOW + timedelta(seconds=1)


def test_permanent_goes_straight_to_the_dead_letter_topic():
    assert POLICY.after(1, Permanent("http_404"), NOW) == DeadLetter("permanent")


def test_http_classification():
    assert classify_http(204).__class__.__name__ == "Delivered"
    for status in (408, 425, 429, 500, 502, 503):
        assert isinstance(classify_http(status), Transient), status
    for status in (400, 401, 403, 404, 410, 422):
        assert isinstance(classify_http(status), Permanent), status


def test_a_deferred_message_parks_on_the_shortest_tier_long_enough():
    policy = RetryPolicy(parse_tiers("1s,10s,1m"))
    assert policy.park(0.5, NOW) == Retry(policy.tiers[0], NOW + timedelta(seconds=0.5))
    assert policy.park(5, NOW) == Retry(policy.tiers[1], NOW + timedelta(seconds=5))
    assert policy.park(300, NOW) == Retry(policy.tiers[2], NOW + timedelta(seconds=300))
