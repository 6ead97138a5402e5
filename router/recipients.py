"""The recipient directory (table `recipients`): addresses, locale and timezone per recipient id.
The router fills in what an event leaves out; values carried inline in the event win."""
from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.types.json import Jsonb

from consumer.channel_specs import (AddressInvalid, channel_names, folded_addresses, legacy_fields, registry,
                                    with_legacy_fields)
from consumer.text_rules import SINGLE_LINE, ControlCharacter, field_flaw

# The fields of a directory record besides its addresses (channel -> address, consumer/channel_specs).
PROFILE = ("locale", "timezone")
_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class RecipientInvalid(ValueError):
    """A recipient record is not valid; the message names the field and why."""


class RecipientCharacter(RecipientInvalid, ControlCharacter):
    """A field holds NUL or another control character (every field is an id or an address)."""


def recipient_from_json(obj: Any) -> dict:
    """Validate one directory record; keeps only the fields given (null clears a field). Addresses
    come as `addresses` (channel -> address, null removes one) or, as before the map, as the
    per-channel fields (email, phone, slack, webhook_url); each is checked by its channel."""
    if not isinstance(obj, dict):
        raise RecipientInvalid("expected a JSON object")
    legacy = legacy_fields()
    known = ("id", "addresses", *legacy, *PROFILE)
    unknown = set(obj) - set(known)
    if unknown:
        raise RecipientInvalid(f"unknown field(s): {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    if not isinstance(obj.get("id"), str) or not obj["id"].strip():
        raise RecipientInvalid("id: required, a non-empty string")
    for key in ("id", *legacy, *PROFILE):
        if problem := field_flaw(key, obj.get(key), SINGLE_LINE):
            raise RecipientCharacter(problem)
    given = obj.get("addresses", {})
    if not isinstance(given, dict):
        raise RecipientInvalid("addresses: expected an object, channel name -> address (or null to remove it)")
    addresses = {legacy[key]: obj[key] for key in legacy if key in obj}
    addresses.update(given)
    out: dict[str, Any] = {"id": obj["id"], "addresses": {}}
    for channel, address in addresses.items():
        where = f"addresses.{channel}" if channel in given else next(k for k, c in legacy.items() if c == channel)
        if problem := (field_flaw("addresses", channel, SINGLE_LINE) or field_flaw(where, address, SINGLE_LINE)):
            raise RecipientCharacter(problem)
        out["addresses"][channel] = None if address is None else _address(channel, address, where)
    for key in PROFILE:
        if key in obj:
            value = obj[key]
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise RecipientInvalid(f"{key}: expected a non-empty string or null")
            if value is not None:
                _check(key, value)
            out[key] = value
    return out


def _address(channel: str, address: Any, where: str) -> str:
    spec = registry().get(channel)
    if spec is None:
        raise RecipientInvalid(f"{where}: {channel!r} is not a channel (known: {', '.join(channel_names())})")
    if not isinstance(address, str) or not address.strip():
        raise RecipientInvalid(f"{where}: expected a non-empty string or null")
    try:
        return spec.check_address(address)
    except AddressInvalid as exc:
        raise RecipientInvalid(f"{where}: {exc}") from None


def _check(key: str, value: str) -> None:
    if key == "locale" and not _LOCALE.match(value):
        raise RecipientInvalid(f"locale: {value!r} is not a locale like pt-BR")
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise RecipientInvalid(f"timezone: {value!r} is not an IANA time zone like Europe/Lisbon") from None


def resolve(inline: dict, stored: dict | None) -> dict:
    """The event's recipient with each missing address and profile field taken from the
    directory; inline wins. `addresses` is the whole map; the legacy fields follow it."""
    merged = dict(inline)
    addresses = {**folded_addresses(stored or {}), **folded_addresses(inline)}
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
            "SELECT id, addresses, locale, timezone, updated_at FROM recipients WHERE id = ANY(%s)",
            [list(set(recipient_ids))]).fetchall()
        out = {}
        for recipient_id, addresses, locale, timezone, updated_at in rows:
            out[recipient_id] = {"id": recipient_id, "addresses": addresses, **with_legacy_fields(addresses),
                                 "locale": locale, "timezone": timezone, "updated_at": updated_at.isoformat()}
        return out
