"""Quiet hours (router/quiet_hours.py): the window grammar, the end of the quiet time a moment falls
in, computed as a local time and only then converted (right across daylight-saving changes, where a
fixed length is an hour off), and how the router holds a delivery for them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from consumer.holds import QUIET_HOURS, SCHEDULED, Hold
from router.quiet_hours import QuietHoursInvalid, hold_for, parse_window, parse_windows, quiet_until, zone_of

UTC = timezone.utc
BERLIN, NEW_YORK = zone_of("Europe/Berlin"), zone_of("America/New_York")
NIGHTS = [parse_window("daily 22:00-07:00")]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


@pytest.mark.parametrize("text, canonical", [
    ("mon-fri 22:00-07:00", "mon-fri 22:00-07:00"), ("sat-sun", "sat-sun"), ("SAT,SUN 00:00-24:00", "sat-sun"),
    ("22:00-07:00", "daily 22:00-07:00"), ("weekends", "sat-sun"), ("fri-mon 20:00-24:00", "fri-mon 20:00-24:00"),
    ("mon,wed,fri 09:00-10:30", "mon,wed,fri 09:00-10:30"), ("sun,mon", "sun-mon"), ("weekdays", "mon-fri")])
def test_windows_read_and_write_back_in_one_spelling(text, canonical):
    assert str(parse_window(text)) == canonical
    assert parse_window(canonical) == parse_window(text)


@pytest.mark.parametrize("text, says", [
    ("mon-fri 22:00", "HH:MM-HH:MM"), ("someday", "not a day"), ("mon 25:00-07:00", "not a time of day"),
    ("mon 07:00-07:00", "same time"), ("mon 24:00-07:00", "starts at 00:00 to 23:59"), ("a b c", "DAYS")])
def test_a_window_that_does_not_parse_is_refused_saying_why(text, says):
    with pytest.raises(QuietHoursInvalid, match=says):
        parse_window(text)


def test_windows_that_leave_no_minute_of_the_week_are_refused():
    with pytest.raises(QuietHoursInvalid, match="whole week"):
        parse_windows(["mon-fri", "sat-sun 00:00-12:00", "sat-sun 12:00-24:00"])
    assert len(parse_windows(["mon-fri", "sat-sun 00:00-23:59"])) == 2


def test_the_end_of_a_night_is_seven_on_the_local_clock_across_spring_forward():
    # Berlin, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST. Saturday's night starts 21:00Z.
    moment = at("2026-03-28T23:30:00")  # 00:30 CET, inside Saturday's 22:00-07:00
    end = quiet_until(NIGHTS, BERLIN, moment)
    assert end == at("2026-03-29T05:00:00")  # 07:00 CEST
    assert end.astimezone(BERLIN).hour == 7
    assert end - at("2026-03-28T21:00:00") == timedelta(hours=8)  # not the 9 a fixed length would give


def test_the_end_of_a_night_is_seven_on_the_local_clock_across_fall_back():
    # Berlin, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET; that night lasts 10 hours.
    moment = at("2026-10-24T23:00:00")  # 01:00 CEST
    assert quiet_until(NIGHTS, BERLIN, moment) == at("2026-10-25T06:00:00")  # 07:00 CET
    assert quiet_until(NIGHTS, BERLIN, at("2026-10-25T06:00:00")) is None  # the end itself is not quiet


def test_a_window_edge_the_clocks_skip_falls_as_far_after_the_change():
    early = [parse_window("daily 01:00-02:30")]  # 02:30 does not exist in Berlin on 29 March 2026
    assert quiet_until(early, BERLIN, at("2026-03-29T00:30:00")) == at("2026-03-29T01:30:00")  # 03:30 CEST


def test_touching_windows_are_followed_to_the_last_one_and_days_are_start_days():
    # Weeknights from 22:00 plus all weekend, in New York, over the 8 March 2026 change to EDT.
    windows = [parse_window("mon-fri 22:00-07:00"), parse_window("sat-sun")]
    friday_night = at("2026-03-07T04:00:00")  # Friday 23:00 EST
    assert quiet_until(windows, NEW_YORK, friday_night) == at("2026-03-09T04:00:00")  # Monday 00:00 EDT
    # Sunday's night is no weekday's: Monday 00:00-22:00 is not quiet.
    assert quiet_until(windows, NEW_YORK, at("2026-03-09T05:00:00")) is None
    # Monday 22:00 EDT is 02:00Z on Tuesday; it ends Tuesday 07:00 EDT.
    assert quiet_until(windows, NEW_YORK, at("2026-03-10T02:30:00")) == at("2026-03-10T11:00:00")


def test_outside_every_window_there_is_no_quiet_time():
    assert quiet_until(NIGHTS, BERLIN, at("2026-06-01T10:00:00")) is None
    assert quiet_until([], BERLIN, at("2026-06-01T10:00:00")) is None


def event(priority="NORMAL", category="news", send_at=None, zone="Europe/Berlin") -> dict:
    return {"priority": priority, "category": category, "send_at": send_at,
            "recipient": {"id": "u1", "timezone": zone}}


NIGHT = at("2026-06-01T21:00:00")  # 23:00 CEST
MORNING = at("2026-06-02T05:00:00")  # 07:00 CEST


def test_the_router_holds_a_delivery_in_quiet_hours_until_they_end():
    windows = {"*": NIGHTS}
    assert hold_for(event(), "email", windows, NIGHT, frozenset()) == Hold(MORNING, QUIET_HOURS)
    assert hold_for(event(), "email", windows, at("2026-06-01T12:00:00"), frozenset()) is None


def test_urgent_and_critical_categories_go_through_quiet_hours():
    windows = {"*": NIGHTS}
    assert hold_for(event(priority="URGENT"), "email", windows, NIGHT, frozenset()) is None
    assert hold_for(event(category="security"), "email", windows, NIGHT, frozenset({"security"})) is None
    later = NIGHT + timedelta(hours=1)  # but a scheduled send still waits for its time
    assert hold_for(event(priority="URGENT", send_at=later), "email", windows, NIGHT, frozenset()) == \
        Hold(later, SCHEDULED)


def test_a_channel_s_own_windows_win_over_every_channel_s_and_an_empty_list_is_never_quiet():
    windows = {"*": NIGHTS, "sms": [], "slack": [parse_window("daily 20:00-23:30")]}
    assert hold_for(event(), "sms", windows, NIGHT, frozenset()) is None
    assert hold_for(event(), "slack", windows, NIGHT, frozenset()) == Hold(at("2026-06-01T21:30:00"), QUIET_HOURS)
    assert hold_for(event(), "email", windows, NIGHT, frozenset()).until == MORNING


def test_a_scheduled_send_that_falls_in_quiet_hours_waits_for_their_end():
    noon = at("2026-06-01T10:00:00")
    assert hold_for(event(send_at=NIGHT), "email", {}, noon, frozenset()) == Hold(NIGHT, SCHEDULED)
    assert hold_for(event(send_at=NIGHT), "email", {"*": NIGHTS}, noon, frozenset()) == Hold(MORNING, QUIET_HOURS)
    # Past: held all the same, due at once, so that an event routed again after a crash is held
    # again and the worker's claim sends one of the copies.
    past = noon - timedelta(minutes=1)
    assert hold_for(event(send_at=past), "email", {}, noon, frozenset()) == Hold(past, SCHEDULED)


def test_quiet_hours_are_judged_at_the_events_creation_not_at_routing():
    created = at("2026-06-01T21:00:00")  # 23:00 CEST, quiet; routed again at noon the next day
    assert hold_for({**event(), "created_at": created}, "email", {"*": NIGHTS}, at("2026-06-02T10:00:00"),
                    frozenset()) == Hold(MORNING, QUIET_HOURS)


def test_a_recipient_without_a_known_zone_is_read_in_utc():
    assert zone_of(None) is UTC and zone_of("Mars/Olympus_Mons") is UTC
    assert hold_for(event(zone=None), "email", {"*": NIGHTS}, at("2026-06-01T23:00:00"), frozenset()).until == \
        at("2026-06-02T07:00:00")
