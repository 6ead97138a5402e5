"""Query parameters that name a moment: an ISO 8601 time or an age ("15m", "24h", "7d"), parsed
like the CLI's --since (consumer/moments.py), with the gateway's clock."""
from __future__ import annotations

from datetime import datetime

from consumer.moments import parse_moment
from gateway.errors import ApiError


def moment(text: str | None, name: str, clock) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now=clock)
    except (ValueError, OverflowError):
        raise ApiError(422, f"{name}: {text!r} is neither an ISO 8601 time nor an age such as 15m, 2h or 7d",
                       name) from None
