"""Per-recipient preferences: opt-outs per channel, per category or per channel x category (table
`preferences`), and quiet hours per channel (table `quiet_hours`, router/quiet_hours.py). The router
suppresses opted-out deliveries and holds those in quiet hours, unless the category is critical."""
from __future__ import annotations

from typing import Iterable

import psycopg
from psycopg.types.json import Jsonb

from consumer.text_rules import SINGLE_LINE, ControlCharacter, field_flaw
from consumer.channel_specs import channel_names
from router.quiet_hours import QuietHoursInvalid, QuietWindow, parse_window, parse_windows

ANY = "*"


class PreferenceInvalid(ValueError):
    """A preference names an unknown channel or an empty category."""


class QuietHoursRefused(PreferenceInvalid, QuietHoursInvalid):
    """Quiet hours that do not parse, or that leave no time of the week."""


class PreferenceCharacter(PreferenceInvalid, ControlCharacter):
    """The recipient id or the category holds NUL or another control character."""


def opted_out(rows: Iterable[dict], channel: str, category: str) -> bool:
    """The most specific matching row decides: channel x category, then channel or category
    alone (if those two disagree, off wins), then a recipient-wide row. No row: not opted out."""
    best, enabled = -1, True
    for row in rows:
        if row["channel"] not in (channel, ANY) or row["category"] not in (category, ANY):
            continue
        rank = (row["channel"] != ANY) + (row["category"] != ANY)
        if rank > best:
            best, enabled = rank, row["enabled"]
        elif rank == best:
            enabled = enabled and row["enabled"]
    return not enabled


class Preferences:
    """Plain methods over one psycopg connection (autocommit); inputs and outputs are dicts."""

    def __init__(self, conn: psycopg.Connection, critical_categories: Iterable[str] = ()):
        self.conn = conn
        self.critical = frozenset(critical_categories)

    def set(self, recipient_id: str, *, enabled: bool, channel: str | None = None,
            category: str | None = None, source: str = "user") -> dict:
        if not recipient_id or not recipient_id.strip():
            raise PreferenceInvalid("recipient: required")
        for field, value in (("recipient", recipient_id), ("category", category)):
            if problem := field_flaw(field, value, SINGLE_LINE):
                raise PreferenceCharacter(problem)
        if channel is not None and channel not in channel_names():
            raise PreferenceInvalid(f"channel: {channel!r} is not one of {', '.join(channel_names())}")
        if category is not None and (not category.strip() or category == ANY):
            raise PreferenceInvalid("category: expected a category name such as 'marketing'")
        row = self.conn.execute(
            "INSERT INTO preferences (recipient_id, channel, category, enabled, source) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (recipient_id, channel, category) DO UPDATE SET enabled = excluded.enabled, "
            "source = excluded.source, updated_at = now() RETURNING updated_at",
            [recipient_id, channel or ANY, category or ANY, enabled, source]).fetchone()
        return {"recipient_id": recipient_id, "channel": channel or ANY, "category": category or ANY,
                "enabled": enabled, "source": source, "updated_at": row[0].isoformat()}

    def show(self, recipient_id: str) -> list[dict]:
        return self.lookup([recipient_id]).get(recipient_id, [])

    def lookup(self, recipient_ids: list[str]) -> dict[str, list[dict]]:
        """recipient id -> its preference rows (one query for a whole batch)."""
        if not recipient_ids:
            return {}
        rows = self.conn.execute(
            "SELECT recipient_id, channel, category, enabled, source, updated_at FROM preferences "
            "WHERE recipient_id = ANY(%b) ORDER BY recipient_id, channel, category", [list(set(recipient_ids))]).fetchall()
        out: dict[str, list[dict]] = {}
        for recipient_id, channel, category, enabled, source, updated_at in rows:
            out.setdefault(recipient_id, []).append({"channel": channel, "category": category, "enabled": enabled,
                                                     "source": source, "updated_at": updated_at.isoformat()})
        return out

    def check(self, recipient_id: str, channel: str, category: str, rows: list[dict] | None = None) -> dict:
        """{"deliver": bool, "reason": None | "opted_out", "critical": bool} for one delivery."""
        critical = category in self.critical
        if rows is None:
            rows = self.show(recipient_id)
        blocked = opted_out(rows, channel, category) and not critical
        return {"deliver": not blocked, "reason": "opted_out" if blocked else None, "critical": critical}

    def set_quiet_hours(self, recipient_id: str, windows: list[str] | None, *, channel: str | None = None,
                        source: str = "user") -> dict | None:
        """Replace the recipient's quiet windows for one channel (None: every channel without its own);
        `windows` None forgets them, [] makes the channel never quiet although every channel is."""
        self._check(recipient_id, channel)
        if windows is None:
            self.conn.execute("DELETE FROM quiet_hours WHERE recipient_id = %s AND channel = %s",
                              [recipient_id, channel or ANY])
            return None
        try:
            texts = [str(w) for w in parse_windows(windows)]
        except QuietHoursInvalid as exc:
            raise QuietHoursRefused(f"quiet_hours: {exc}") from None
        row = self.conn.execute(
            "INSERT INTO quiet_hours (recipient_id, channel, windows, source) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (recipient_id, channel) DO UPDATE SET windows = excluded.windows, "
            "source = excluded.source, updated_at = now() RETURNING updated_at",
            [recipient_id, channel or ANY, Jsonb(texts), source]).fetchone()
        return {"channel": channel or ANY, "windows": texts, "source": source, "updated_at": row[0].isoformat()}

    def quiet_hours(self, recipient_id: str) -> list[dict]:
        """The recipient's quiet windows per channel ("*": every channel without a row of its own)."""
        rows = self.conn.execute("SELECT channel, windows, source, updated_at FROM quiet_hours WHERE recipient_id = %s "
                                 "ORDER BY channel", [recipient_id]).fetchall()
        return [{"channel": c, "windows": w, "source": s, "updated_at": u.isoformat()} for c, w, s, u in rows]

    def quiet_lookup(self, recipient_ids: list[str]) -> dict[str, dict[str, list[QuietWindow]]]:
        """recipient id -> channel -> windows, for a whole batch in one query (the router's)."""
        if not recipient_ids:
            return {}
        rows = self.conn.execute("SELECT recipient_id, channel, windows FROM quiet_hours WHERE recipient_id = ANY(%b)",
                                 [list(set(recipient_ids))]).fetchall()
        out: dict[str, dict[str, list[QuietWindow]]] = {}
        for recipient_id, channel, windows in rows:
            out.setdefault(recipient_id, {})[channel] = [parse_window(w) for w in windows]
        return out

    def _check(self, recipient_id: str, channel: str | None) -> None:
        if not recipient_id or not recipient_id.strip():
            raise PreferenceInvalid("recipient: required")
        if problem := field_flaw("recipient", recipient_id, SINGLE_LINE):
            raise PreferenceCharacter(problem)
        if channel is not None and channel not in channel_names():
            raise PreferenceInvalid(f"channel: {channel!r} is not one of {', '.join(channel_names())}")
