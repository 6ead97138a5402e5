"""The one grammar of durations and rates in settings and command lines: retry tiers (`500ms`),
rate limits of the router and the gateway (`100/1h`, `100/h`), ages (`--since 24h`, consumer/moments.py).

A duration is a number and a unit: `ms`, `s`, `m`, `h` or `d` (`500ms`, `10s`, `1.5h`, `7d`). A rate
is a count per period, the period a duration whose number may be left out (`100/h` = `100/1h`).
Errors name the setting or option and give examples."""
from __future__ import annotations

import math
import re

from consumer.settings import SettingsError

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NUMBER = r"\d+(?:\.\d+)?"
_UNIT = "ms|s|m|h|d"  # ms before m and s
_DURATION = re.compile(rf"\s*({_NUMBER})\s*({_UNIT})\s*")
_RATE = re.compile(rf"\s*(\d+)\s*/\s*({_NUMBER})?\s*({_UNIT})\s*")


def parse_duration(text: str, setting: str) -> float:
    """`10s` -> 10.0 seconds; SettingsError naming `setting` otherwise."""
    match = _DURATION.fullmatch(text or "")
    if not match or not math.isfinite(seconds := float(match[1]) * UNITS[match[2]]):
        raise SettingsError(f"{setting}: {text!r} is not a duration like 500ms, 10s, 15m, 1h or 7d")
    return seconds


def is_duration(text: str) -> bool:
    """Whether `text` is written as a duration (an age rather than a time, for consumer/moments.py)."""
    return _DURATION.fullmatch(text or "") is not None


def parse_rate(text: str, setting: str) -> tuple[int, float]:
    """`100/1h` or `100/h` -> (100, 3600.0): a count and its period in seconds (positive)."""
    match = _RATE.fullmatch(text or "")
    if not match:
        raise SettingsError(f"{setting}: {text!r} is not a rate like 100/h, 10/1m or 20/30s")
    period = float(match[2] or 1) * UNITS[match[3]]
    if not 0 < period < math.inf:
        raise SettingsError(f"{setting}: {text!r}: the period must be a positive duration")
    return int(match[1]), period


def whole_seconds(seconds: float) -> int | float:
    """3600.0 -> 3600, so that a period reads (and keys counters) as it did when only whole
    numbers were accepted; 0.5 stays 0.5."""
    return int(seconds) if seconds == int(seconds) else seconds
