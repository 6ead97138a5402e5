"""The recipient directory (table `recipients`): addresses, locale and timezone per recipient id.
The router fills in what an event leaves out; values carried inline in the event win."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from consumer.channel_specs import folded_addresses, legacy_fields, with_legacy_fields
from consumer.contracts import CONTROL_CHARACTER, first_problem
from consumer.recipient_model import directory_record_model, given_fields
from consumer.text_rules import ControlCharacter

# The fields of a directory record besides its addresses (channel -> address, consumer/channel_specs).
PROFILE = ("locale", "timezone")


class RecipientInvalid(ValueError):
    """A recipient record is not valid; the message names the field and why."""


class RecipientCharacter(RecipientInvalid, ControlCharacter):
    """A field holds NUL or another control character (every field is an id or an address)."""


def recipient_from_json(obj: Any) -> dict:
    """Validate one directory record (its model: consumer/recipient_model.py); keeps only the
    fields given (null clears a field). Addresses come as `addresses` (channel -> address, null
    removes one) or, as before the map, as the per-channel fields (email, phone, slack, webhook_url);
    each is checked, and normalised, by its channel."""
    if not isinstance(obj, dict):
        raise RecipientInvalid("expected a JSON object")
    try:
        record = directory_record_model().model_validate(obj)
    except ValidationError as exc:
        problem = first_problem(exc)
        raise (RecipientCharacter if problem.kind == CONTROL_CHARACTER else RecipientInvalid)(str(problem)) from None
    given = given_fields(record)
    out: dict[str, Any] = {"id": record.id, "addresses": {}}
    for field, channel in legacy_fields().items():
        if field in given:
            out["addresses"][channel] = given[field]
    if record.addresses is not None:
        out["addresses"].update(given_fields(record.addresses))  # the map wins over the old fields
    out.update({key: given[key] for key in PROFILE if key in given})
    return out


def resolve(inline: dict, stored: dict | None) -> dict:
    """The event's recipient with each missing address and profile field taken from the
    directory; inline wins. `addresses` is the whole map; the legacy fields follow it."""
    merged = dict(inline)
    addresses = {**(folded_addresses(stored) if stored else {}), **folded_addresses(inline)}
    merged["addresses"] = addresses
    merged.update({k: v for k, v in with_legacy_fields(addresses).items() if v})
    for key in PROFILE:
        if not merged.get(key) and stored and stored.get(key):
            merged[key] = stored[key]
    return merged


class RecipientDirectory:
    """Plain methods over one psycopg connection (autocommit); inputs and outputs are dicts."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def upsert(self, records: list[dict]) -> int:
        """Validate every record, then write all in one transaction: the addresses and fields a
        record gives replace the stored ones (a null address removes it), the others are kept.
        Raises RecipientInvalid, writing nothing."""
        records = [recipient_from_json(r) for r in records]
        rows = []
        for r in records:
            given = {c: a for c, a in r["addresses"].items() if a is not None}
            removed = [c for c, a in r["addresses"].items() if a is None]
            rows.append([r["id"], Jsonb(given), *(r.get(k) for k in PROFILE), removed,
                         *(k in r for k in PROFILE)])
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO recipients AS r (id, addresses, locale, timezone) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET addresses = (r.addresses || excluded.addresses) - %s::text[],"
                " locale = CASE WHEN %s THEN excluded.locale ELSE r.locale END,"
                " timezone = CASE WHEN %s THEN excluded.timezone ELSE r.timezone END, updated_at = now()",
                rows)
        return len(records)

    def delete(self, recipient_id: str) -> bool:
        """Remove a recipient's addresses; their preferences (opt-outs) are kept on purpose."""
        return self.conn.execute("DELETE FROM recipients WHERE id = %s", [recipient_id]).rowcount == 1

    def show(self, recipient_id: str) -> dict | None:
        return self.lookup([recipient_id]).get(recipient_id)

    def lookup(self, recipient_ids: list[str]) -> dict[str, dict]:
        """id -> stored record, for the ids that have one (one query for a whole batch). Each
        record has its `addresses` and, for the channels that had one, the legacy fields."""
        if not recipient_ids:
            return {}
        rows = self.conn.execute(
            "SELECT id, addresses, locale, timezone, updated_at FROM recipients WHERE id = ANY(%b)",
            [list(set(recipient_ids))]).fetchall()
        out = {}
        for recipient_id, addresses, locale, timezone, updated_at in rows:
            out[recipient_id] = {"id": recipient_id, "addresses": addresses, **with_legacy_fields(addresses),
                                 "locale": locale, "timezone": timezone, "updated_at": updated_at.isoformat()}
        return out
