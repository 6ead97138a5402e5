"""Quiet hours: windows in the recipient's own time zone ("mon-fri 22:00-07:00", "sat-sun" for all
day) during which the router holds a delivery until the window ends (consumer/holds.py). Kept per
recipient and channel by router/preferences.py; URGENT and critical categories go through.

Every window edge is a local time on a local day, converted to UTC only then, so a 22:00-07:00
night is 8 or 10 hours long across a daylight-saving change and still ends at 07:00 on the clock."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consumer.holds import QUIET_HOURS, SCHEDULED, Hold

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALIASES = {"daily": range(7), "all": range(7), "weekdays": range(5), "weekends": range(5, 7)}
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
# Windows that touch are followed one after the other ("fri 22:00-24:00" then "sat-sun"); a chain
# longer than a week is a recipient who is always quiet, refused when set.
_MAX_CHAIN = 15
MIDNIGHT = time(0, 0)


class QuietHoursInvalid(ValueError):
    """A window that does not parse; the message quotes it and says what was expected."""


@dataclass(frozen=True)
class QuietWindow:
    days: frozenset[int]      # the days it starts on, 0 = Monday
    start: time = MIDNIGHT
    end: time | None = None   # None: midnight at the end of the start day (24:00)

    def __str__(self) -> str:
        hours = "" if self.start == MIDNIGHT and self.end is None else \
            f" {self.start:%H:%M}-{'24:00' if self.end is None else format(self.end, '%H:%M')}"
        return days_text(self.days) + hours

    def bounds(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The window starting on local `day`, in UTC. An end at or before the start is the next
        day's. A local time the clocks skip (02:30 on a spring-forward night) lands as far after
        the change as it was meant to (03:30); one that happens twice is its first."""
        start = datetime.combine(day, self.start, tzinfo=zone)
        if self.end is None:
            end = datetime.combine(day + timedelta(days=1), MIDNIGHT, tzinfo=zone)
        else:
            end = datetime.combine(day + timedelta(days=1) if self.end <= self.start else day, self.end, tzinfo=zone)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def parse_window(text: str) -> QuietWindow:
    """`DAYS [HH:MM-HH:MM]` or `HH:MM-HH:MM` (every day). DAYS: mon..sun, ranges (mon-fri,
    fri-mon), lists (sat,sun), daily, weekdays, weekends. No hours: the whole day."""
    if not isinstance(text, str):
        raise QuietHoursInvalid(f"expected a window such as 'mon-fri 22:00-07:00', got {text!r}")
    parts = text.strip().lower().split()
    if len(parts) == 1 and ":" in parts[0]:
        parts = ["daily", parts[0]]
    if len(parts) not in (1, 2):
        raise QuietHoursInvalid(f"{text!r}: expected DAYS [HH:MM-HH:MM], e.g. 'mon-fri 22:00-07:00' or 'sat-sun'")
    days = _days(parts[0], text)
    if len(parts) == 1:
        return QuietWindow(days)
    start, sep, end = parts[1].partition("-")
    if not sep:
        raise QuietHoursInvalid(f"{text!r}: hours are HH:MM-HH:MM, e.g. 22:00-07:00")
    start_at, end_at = _clock(start, text), _clock(end, text)
    if start_at is None:
        raise QuietHoursInvalid(f"{text!r}: a window starts at 00:00 to 23:59")
    if start_at == end_at:
        raise QuietHoursInvalid(f"{text!r}: starts and ends at the same time (leave the hours out for a whole day)")
    return QuietWindow(days, start_at, end_at)


def _days(token: str, text: str) -> frozenset[int]:
    if token in ALIASES:
        return frozenset(ALIASES[token])
    days: set[int] = set()
    for item in token.split(","):
        first, sep, last = item.partition("-")
        if first not in DAYS or (sep and last not in DAYS):
            raise QuietHoursInvalid(f"{text!r}: {item!r} is not a day or a range of days "
                                    f"({', '.join(DAYS)}, daily, weekdays, weekends)")
        a, b = DAYS.index(first), DAYS.index(last) if sep else DAYS.index(first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # fri-mon wraps over the weekend
    return frozenset(days)


def _clock(token: str, text: str) -> time | None:
    """HH:MM; 24:00 is None (the end of the day)."""
    match = _TIME.match(token)
    if match is None or (match[1] == "24" and match[2] != "00"):
        raise QuietHoursInvalid(f"{text!r}: {token!r} is not a time of day HH:MM (00:00 to 24:00)")
    return None if match[1] == "24" else time(int(match[1]), int(match[2]))


def days_text(days: frozenset[int]) -> str:
    """The shortest way to write a set of days: daily, mon-fri, sat-sun, mon,wed,fri."""
    if len(days) == 7:
        return "daily"
    runs, ordered = [], sorted(days)
    for day in ordered:
        if runs and runs[-1][1] == day - 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][1] == 6:  # sun-mon wraps
        runs[0][0] = runs.pop()[0]
    return ",".join(DAYS[a] if a == b else f"{DAYS[a]}-{DAYS[b]}" for a, b in runs)


def parse_windows(texts: list[str]) -> list[QuietWindow]:
    """Windows from their texts; refused when they leave no minute of the week (an opt-out says that)."""
    windows = [parse_window(t) for t in texts]
    monday = datetime(2026, 1, 5, tzinfo=timezone.utc)
    if windows and all(_around(windows, timezone.utc, monday + timedelta(minutes=m)) for m in range(7 * 24 * 60)):
        raise QuietHoursInvalid("these windows cover the whole week: opt out of the channel instead")
    return windows


def zone_of(name: str | None) -> ZoneInfo | timezone:
    """The recipient's IANA zone; UTC when they have none (or one this machine does not know)."""
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _around(windows: list[QuietWindow], zone, moment: datetime) -> datetime | None:
    """The latest end of a window that `moment` (aware) falls in, in UTC; None when in none."""
    local = moment.astimezone(zone).date()
    ends = []
    for day in (local - timedelta(days=1), local):
        for window in windows:
            if day.weekday() in window.days:
                start, end = window.bounds(day, zone)
                if start <= moment < end:  # both in UTC: aware times in one zone compare by the wall clock
                    ends.append(end)
    return max(ends, default=None)


def quiet_until(windows: list[QuietWindow], zone, moment: datetime) -> datetime | None:
    """When the quiet time `moment` falls in ends (UTC), following windows that touch; None when
    `moment` is not in quiet hours."""
    end = None
    for _ in range(_MAX_CHAIN):
        later = _around(windows, zone, end or moment)
        if later is None:
            return end
        end = later
    return end


def hold_for(event: dict, channel: str, windows: dict[str, list[QuietWindow]], now: datetime,
             critical: frozenset[str]) -> Hold | None:
    """How long the router holds one delivery: until send_at (a scheduled send), then on to the end
    of the recipient's quiet hours for the channel (its own windows, else those for every channel)
    unless the event is URGENT or of a critical category; None when it goes at once.

    Decided from the event alone (send_at, else its created_at), never from the routing time: an
    event routed again after a crash is held again even when its time has passed, so both copies go
    through the worker's release claim and one is sent (channels/held_releases.py)."""
    send_at = event.get("send_at")
    hold = Hold(send_at, SCHEDULED) if send_at is not None else None
    if event["priority"] == "URGENT" or event["category"] in critical:
        return hold
    own = windows.get(channel, windows.get("*"))
    if not own:
        return hold
    start = send_at if send_at is not None else event.get("created_at") or now
    end = quiet_until(own, zone_of(event["recipient"].get("timezone")), start)
    return Hold(end, QUIET_HOURS) if end is not None else hold
