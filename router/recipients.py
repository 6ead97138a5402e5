"""The recipient directory (table `recipients`): addresses, locale and timezone per recipient id.
The router fills in what an event leaves out; values carried inline in the event win."""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql

from consumer.text_rules import SINGLE_LINE, ControlCharacter, field_flaw

FIELDS = ("email", "phone", "slack", "webhook_url", "locale", "timezone")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class RecipientInvalid(ValueError):
    """A recipient record is not valid; the message names the field and why."""


class RecipientCharacter(RecipientInvalid, ControlCharacter):
    """A field holds NUL or another control character (every field is an id or an address)."""


def recipient_from_json(obj: Any) -> dict:
    """Validate one directory record; keeps only the fields given (null clears a field)."""
    if not isinstance(obj, dict):
        raise RecipientInvalid("expected a JSON object")
    unknown = set(obj) - {"id", *FIELDS}
    if unknown:
        raise RecipientInvalid(f"unknown field(s): {', '.join(sorted(unknown))} (known: id, {', '.join(FIELDS)})")
    if not isinstance(obj.get("id"), str) or not obj["id"].strip():
        raise RecipientInvalid("id: required, a non-empty string")
    for key in ("id", *FIELDS):
        if problem := field_flaw(key, obj.get(key), SINGLE_LINE):
            raise RecipientCharacter(problem)
    out = {"id": obj["id"]}
    for key in FIELDS:
        if key not in obj:
            continue
        value = obj[key]
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise RecipientInvalid(f"{key}: expected a non-empty string or null")
        if value is not None:
            _check(key, value)
        out[key] = value
    return out


def _check(key: str, value: str) -> None:
    if key == "email" and not _EMAIL.match(value):
        raise RecipientInvalid(f"email: {value!r} is not an address like name@example.com")
    if key == "phone" and not _PHONE.match(value):
        raise RecipientInvalid(f"phone: {value!r} is not an E.164 number like +14155550100")
    if key == "webhook_url" and not value.startswith(("https://", "http://")):
        raise RecipientInvalid(f"webhook_url: {value!r} is not an http(s) URL")
    if key == "locale" and not _LOCALE.match(value):
        raise RecipientInvalid(f"locale: {value!r} is not a locale like pt-BR")
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise RecipientInvalid(f"timezone: {value!r} is not an IANA time zone like Europe/Lisbon") from None


def resolve(inline: dict, stored: dict | None) -> dict:
    """The event's recipient with each missing field taken from the directory; inline wins."""
    merged = dict(inline)
    for key in FIELDS:
        if not merged.get(key) and stored and stored.get(key):
            merged[key] = stored[key]
    return merged


class RecipientDirectory:
    """Plain methods over one psycopg connection (autocommit); inputs and outputs are dicts."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def upsert(self, records: list[dict]) -> int:
        """Validate every record, then write all in one transaction: the fields a record gives
        replace the stored ones, the others are kept. Raises RecipientInvalid, writing nothing."""
        records = [recipient_from_json(r) for r in records]
        by_fields: dict[tuple[str, ...], list[dict]] = defaultdict(list)
        for record in records:
            by_fields[tuple(k for k in FIELDS if k in record)].append(record)
        with self.conn.transaction(), self.conn.cursor() as cur:
            for given, group in by_fields.items():
                columns = ("id", *given)
                updates = [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in given]
                statement = sql.SQL(
                    "INSERT INTO recipients ({cols}) VALUES ({vals}) ON CONFLICT (id) DO UPDATE SET {sets}"
                ).format(cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                         vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                         sets=sql.SQL(", ").join([*updates, sql.SQL("updated_at = now()")]))
                cur.executemany(statement, [[r[c] for c in columns] for r in group])
        return len(records)

    def delete(self, recipient_id: str) -> bool:
        """Remove a recipient's addresses; their preferences (opt-outs) are kept on purpose."""
        return self.conn.execute("DELETE FROM recipients WHERE id = %s", [recipient_id]).rowcount == 1

    def show(self, recipient_id: str) -> dict | None:
        return self.lookup([recipient_id]).get(recipient_id)

    def lookup(self, recipient_ids: list[str]) -> dict[str, dict]:
        """id -> stored record, for the ids that have one (one query for a whole batch)."""
        if not recipient_ids:
            return {}
        rows = self.conn.execute(
            f"SELECT id, {', '.join(FIELDS)}, updated_at FROM recipients WHERE id = ANY(%s)",
            [list(set(recipient_ids))]).fetchall()
        out = {}
        for row in rows:
            record = dict(zip(("id", *FIELDS), row[:-1]))
            record["updated_at"] = row[-1].isoformat()
            out[record["id"]] = record
        return out
