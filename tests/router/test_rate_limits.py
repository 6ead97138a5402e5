"""Rate-limit rules and decisions (router/rate_limits.py) with an injected time: the counts in
memory and in Postgres (two routers sharing the counters)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from consumer.settings import Settings, SettingsError
from router.limit_counters import MemoryCounters, PostgresCounters
from router.rate_limits import RateLimits, parse_rules

NOON = datetime(2026, 11, 25, 12, 0, 10, tzinfo=timezone.utc)


def message(recipient="user-1", channel="email", priority="NORMAL", category="news", source="shop") -> dict:
    return {"delivery_id": f"{recipient}-{channel}", "recipient_id": recipient, "channel": channel,
            "priority": priority, "category": category, "source": source}


def limits(rules: str, action="suppress", exempt="urgent") -> RateLimits:
    return RateLimits.from_settings(Settings(rate_limits=rules, rate_limit_action=action, rate_limit_exempt=exempt))


@pytest.mark.parametrize("bad", ["recipient=3", "sender=3/1h", "recipient:fax=3/1h", "recipient=3/0h",
                                 "recipient:email:low:x=1/1h"])
def test_malformed_rules_are_refused_with_the_variable_name(bad):
    with pytest.raises(SettingsError, match="TIDINGS_RATE_LIMITS"):
        parse_rules(bad)


def test_unknown_action_and_exempt_priority_are_refused():
    with pytest.raises(SettingsError, match="TIDINGS_RATE_LIMIT_ACTION"):
        limits("recipient=1/1h", action="drop")
    with pytest.raises(SettingsError, match="TIDINGS_RATE_LIMIT_EXEMPT"):
        limits("recipient=1/1h", exempt="critical")


def test_the_default_is_100_per_recipient_per_channel_per_hour_and_urgent_is_exempt():
    counters = MemoryCounters(RateLimits.from_settings(Settings()))
    verdicts = [v.decision for v in counters.decide([message()] * 101 + [message(channel="sms")], NOON)]
    assert verdicts == ["allowed"] * 100 + ["suppressed", "allowed"]
    assert counters.decide([message(priority="URGENT")] * 5, NOON)[-1].decision == "exempt"
    assert counters.decide([message()], NOON + timedelta(hours=1))[0].decision == "allowed"  # a new window


def test_the_most_specific_rule_per_channel_and_priority_applies():
    rules = limits("recipient=5/1h,recipient:sms=1/1h,recipient:sms:low=0/1h")
    counters = MemoryCounters(rules)
    assert [v.decision for v in counters.decide([message(channel="sms")] * 2, NOON)] == ["allowed", "suppressed"]
    assert counters.decide([message(channel="sms", priority="LOW", recipient="u2")], NOON)[0].decision == "suppressed"
    assert [v.decision for v in counters.decide([message()] * 6, NOON)].count("allowed") == 5


def test_category_counts_per_recipient_and_source_counts_across_recipients():
    counters = MemoryCounters(limits("recipient=100/1h,category=2/1d,source:webhook=3/1m"))
    news = [message(category="news")] * 3
    assert [v.decision for v in counters.decide(news, NOON)] == ["allowed", "allowed", "suppressed"]
    assert counters.decide([message(category="billing")], NOON)[0].decision == "allowed"
    flood = [message(recipient=f"u{i}", channel="webhook") for i in range(4)]
    decisions = counters.decide(flood, NOON)
    assert [v.decision for v in decisions] == ["allowed"] * 3 + ["suppressed"]
    assert decisions[-1].rule == "source:webhook=3/60s"


def test_defer_counts_in_the_next_window_and_suppresses_when_that_is_full_too():
    counters = MemoryCounters(limits("recipient=2/1m", action="defer"))
    verdicts = counters.decide([message()] * 5, NOON)
    assert [v.decision for v in verdicts] == ["allowed", "allowed", "deferred", "deferred", "suppressed"]
    assert verdicts[2].until == datetime(2026, 11, 25, 12, 1, tzinfo=timezone.utc)
    later = counters.decide([message()], NOON + timedelta(minutes=1))[0]
    assert later.decision == "deferred"  # the two deferred ones took the next window's slots


def test_memory_counters_drop_windows_past_the_horizon_once_they_have_doubled():
    counters = MemoryCounters(limits("recipient=1/1m"), prune_floor=10)
    counters.decide([message(recipient=f"old-{i}") for i in range(8)], NOON)
    later = NOON + timedelta(days=2)  # past the horizon (the longest period and a day)
    counters.decide([message(recipient=f"new-{i}") for i in range(8)], later)
    assert sorted(c for c, _ in counters.counts.entries) == sorted(f"tidings|recipient:new-{i}:email|60"
                                                                   for i in range(8))
    assert counters.counts.prune_at == 16
    # What was kept still counts: the same recipient in the same minute is over its limit.
    assert counters.decide([message(recipient="new-0")], later)[0].decision == "suppressed"

def test_postgres_counters_are_shared_and_survive_a_new_connection(database_url):
    from tracking.migrate import migrate

    migrate(database_url)
    rules = limits("recipient=3/1h")
    with psycopg.connect(database_url, autocommit=True) as first, psycopg.connect(database_url, autocommit=True) as second:
        assert [v.decision for v in PostgresCounters(first, rules).decide([message()] * 2, NOON)] == ["allowed"] * 2
        other_router = PostgresCounters(second, rules)
        assert [v.decision for v in other_router.decide([message()] * 2, NOON)] == ["allowed", "suppressed"]
    with psycopg.connect(database_url, autocommit=True) as restarted:
        assert PostgresCounters(restarted, rules).decide([message()], NOON)[0].decision == "suppressed"
        (count,) = restarted.execute("SELECT count FROM rate_limit_counters").fetchone()
    assert count == 3


@pytest.mark.parametrize("action", ["suppress", "defer"])
def test_postgres_counters_decide_and_count_what_the_memory_counters_do(database_url, action):
    """Counted optimistically (added first, put right after): over mixed batches at and past the
    limits, with deferrals into the next window, every verdict and every count in Postgres is the
    one the in-memory counters reach."""
    import random

    from tracking.migrate import migrate

    migrate(database_url)
    rules = limits("recipient=3/1m,source:email=7/1h,recipient:sms=2/1m", action=action)
    memory, pick, decisions = MemoryCounters(rules), random.Random(7), set()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limit_counters")
        postgres = PostgresCounters(conn, rules)
        for batch in range(12):
            now = NOON + timedelta(seconds=20 * batch)
            messages = [message(recipient=f"user-{pick.randrange(3)}", channel=pick.choice(["email", "sms"]),
                                priority=pick.choice(["NORMAL", "LOW", "URGENT"])) for _ in range(pick.randrange(1, 6))]
            verdicts = postgres.decide(messages, now)
            assert verdicts == memory.decide(messages, now), f"batch {batch}"
            decisions |= {v.decision for v in verdicts}
        stored = dict(((c, s), n) for c, s, n in conn.execute(
            "SELECT counter, window_start, count FROM rate_limit_counters WHERE count > 0").fetchall())
    assert stored == {w: n for w, n in memory.counts.entries.items() if n > 0}
    assert decisions == {"allowed", "exempt", "suppressed" if action == "suppress" else "deferred"}
