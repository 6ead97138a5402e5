"""A moment as operators type it: an ISO 8601 time or an age ("15m", "2h", "7d"). Read by every
--since / --until / --older-than of the CLI and the gateway's query parameters."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

from consumer import failure_headers as fh
from consumer.durations import is_duration, parse_duration
from consumer.settings import SettingsError


def parse_moment(text: str, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> datetime:
    """ISO 8601 (UTC when no zone is given) or a duration ago: 90s, 15m, 2h, 7d (the one grammar of
    consumer/durations.py). Raises ValueError when it is neither, or reaches back before the year 1."""
    if is_duration(text):
        try:
            return now() - timedelta(seconds=parse_duration(text, "age"))
        except OverflowError:
            raise SettingsError(f"{text!r} reaches back before the year 1") from None
    moment = fh.parse_time(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
