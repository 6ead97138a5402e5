"""The one grammar of durations and rates (consumer/durations.py), and that every value the
grammars it replaced accepted still reads the same: retry tiers, router and gateway rate limits,
and the ages of --since / --older-than and the gateway's moments (consumer/moments.py)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from consumer.durations import parse_duration, parse_rate, whole_seconds
from consumer.moments import parse_moment
from consumer.retry_tiers import parse_tiers
from consumer.settings import SettingsError
from gateway.rate_limits import Rate, parse_rate as gateway_rate
from router.rate_limits import parse_rules


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("10s", 10), ("1m", 60), ("10m", 600), ("1h", 3600), ("7d", 604800),
    ("90s", 90), ("1.5h", 5400), ("0s", 0), (" 2h ", 7200), ("15 m", 900),
])
def test_durations(text, seconds):
    assert parse_duration(text, "TIDINGS_X") == seconds


@pytest.mark.parametrize("text", ["", "10", "s", "10 days", "1e3s", "-5s", "10S", "1h30m", "0x10s", "1" * 400 + "d"])
def test_what_is_not_a_duration_is_refused_naming_the_setting(text):
    with pytest.raises(SettingsError, match=r"^TIDINGS_X: .* is not a duration like 500ms, 10s"):
        parse_duration(text, "TIDINGS_X")


@pytest.mark.parametrize("text, rate", [
    ("100/h", (100, 3600)), ("100/1h", (100, 3600)), ("10/m", (10, 60)), ("5000/d", (5000, 86400)),
    ("20/30s", (20, 30)), ("0/1h", (0, 3600)), (" 100 / 30 s ", (100, 30)), ("3/1.5m", (3, 90)),
    ("10/500ms", (10, 0.5)),
])
def test_rates(text, rate):
    assert parse_rate(text, "TIDINGS_Y") == rate


@pytest.mark.parametrize("text", ["100", "/h", "100/", "100/0h", "100/0s", "x/h", "1.5/h", "100/hour", "100/h/2"])
def test_what_is_not_a_rate_is_refused_naming_the_setting(text):
    with pytest.raises(SettingsError, match=r"^TIDINGS_Y: "):
        parse_rate(text, "TIDINGS_Y")


def test_whole_periods_keep_the_integer_they_always_had():
    """The router keys its Postgres counters by the period: 3600, never 3600.0."""
    assert repr(whole_seconds(3600.0)) == "3600" and whole_seconds(0.5) == 0.5
    assert parse_rules("recipient=100/1h")[0].period_s.__class__ is int


def test_each_user_reports_its_own_setting():
    with pytest.raises(SettingsError, match="TIDINGS_RETRY_TIERS_SMS"):
        parse_tiers("10s,soon", "TIDINGS_RETRY_TIERS_SMS")
    with pytest.raises(SettingsError, match="TIDINGS_RATE_LIMITS: 'recipient=3/often'"):
        parse_rules("recipient=3/often")
    with pytest.raises(SettingsError, match="TIDINGS_RATE_LIMITS: 'recipient=3/500ms'.*whole number of seconds"):
        parse_rules("recipient=3/500ms")
    with pytest.raises(SettingsError, match="TIDINGS_GATEWAY_RATE_LIMIT: '0/h'"):
        gateway_rate("0/h")


def test_retry_tier_names_stay_as_written_because_they_name_topics():
    assert [(t.name, t.delay_s) for t in parse_tiers("500ms, 10s,1m,10m,1h,1d")] == [
        ("500ms", 0.5), ("10s", 10), ("1m", 60), ("10m", 600), ("1h", 3600), ("1d", 86400)]
    assert parse_tiers("1 s")[0].name == "1s"  # no space in a topic name


# --- every value the replaced grammars accepted still reads the same ---------------------------------

OLD_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
OLD_TIER = re.compile(r"^(\d+)(ms|s|m|h)$")
OLD_ROUTER_RATE = re.compile(r"^(\d+)/(\d*)(s|m|h|d)$")
OLD_GATEWAY_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|m|h|d)\s*$")


@hypothesis_settings(max_examples=300)
@given(st.from_regex(r"[0-9]{1,6}(ms|s|m|h)", fullmatch=True))
def test_old_retry_tiers_read_the_same(text):
    match = OLD_TIER.match(text)
    [tier] = parse_tiers(text)
    assert (tier.name, tier.delay_s) == (text, int(match[1]) * OLD_UNITS[match[2]])


@hypothesis_settings(max_examples=300)
@given(st.from_regex(r"[0-9]{1,6}/[0-9]{0,4}(s|m|h|d)", fullmatch=True))
def test_old_router_rates_read_the_same(text):
    match = OLD_ROUTER_RATE.match(text)
    period = int(match[2] or 1) * OLD_UNITS[match[3]]
    if period <= 0:  # refused then too
        with pytest.raises(SettingsError):
            parse_rules(f"recipient={text}")
        return
    [rule] = parse_rules(f"recipient={text}")
    assert (rule.limit, rule.period_s) == (int(match[1]), period) and isinstance(rule.period_s, int)


@hypothesis_settings(max_examples=300)
@given(st.from_regex(r"[ \t]{0,2}[1-9][0-9]{0,5}[ \t]{0,2}/[ \t]{0,2}[1-9]?[0-9]{0,3}[ \t]{0,2}(s|m|h|d)[ \t]{0,2}",
                     fullmatch=True))
def test_old_gateway_rates_read_the_same(text):
    match = OLD_GATEWAY_RATE.match(text)
    period = int(match[2] or 1) * OLD_UNITS[match[3]]
    if period == 0:  # "100/0h" was read as a period of 0 s, i.e. no limit at all: now refused at start
        with pytest.raises(SettingsError, match="period must be a positive duration"):
            gateway_rate(text)
        return
    assert gateway_rate(text) == Rate(int(match[1]), period)


OLD_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@hypothesis_settings(max_examples=300)
@given(st.from_regex(r"[0-9]{1,5}(\.[0-9]{1,3})?(s|m|h|d)", fullmatch=True))
def test_old_ages_read_the_same(text):
    match = OLD_AGE.match(text)
    expected = NOW - timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]: float(match[1])})
    assert abs(parse_moment(text, now=lambda: NOW) - expected) <= timedelta(microseconds=1)  # float rounding


def test_moments_are_iso_times_or_ages_in_the_one_grammar():
    assert parse_moment("2026-04-30T12:00:00", now=lambda: NOW) == NOW - timedelta(days=1)  # UTC when no zone
    assert parse_moment("2026-05-01T14:00:00+02:00", now=lambda: NOW) == NOW
    assert parse_moment("500ms", now=lambda: NOW) == NOW - timedelta(milliseconds=500)
    with pytest.raises(ValueError):
        parse_moment("yesterday-ish", now=lambda: NOW)


def test_an_age_reaching_before_the_year_1_is_a_value_error_not_an_overflow():
    """`tidings stats --since 99999999999d` printed a traceback (OverflowError) instead of its error line."""
    with pytest.raises(ValueError, match="before the year 1"):
        parse_moment("99999999999d")
