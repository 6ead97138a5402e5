"""What every receipt source reads the same way from a provider's report: when it says the thing
happened, a short reason as a person reads it, and the refusal of a report that is not one (400)."""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

MAX_TEXT = 200


class Malformed(ValueError):
    """Not what the source sends: the message names the field at fault (the gateway answers 400)."""


def reported_at(value: object, arrived: datetime) -> datetime:
    """An ISO 8601 time (SES, SNS; UTC when it names no zone) or an RFC 5322 date (a DSN's
    Arrival-Date); `arrived` when the report says nothing usable."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        for parse in (datetime.fromisoformat, parsedate_to_datetime):
            try:
                moment = parse(text)
            except (ValueError, TypeError, IndexError, OverflowError):
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return arrived


def short_text(value: object) -> str | None:
    """One line without control characters, cut to MAX_TEXT; None for nothing."""
    if value in (None, ""):
        return None
    return " ".join("".join(c if c.isprintable() else " " for c in str(value)[:MAX_TEXT]).split()) or None
