"""The per-tenant suppression list (tables `suppressions`, `soft_bounces`): addresses a tenant no
longer sends to. Receipts add to it (a hard bounce, a complaint, a carrier's unknown number, or too
many soft bounces within TIDINGS_SOFT_BOUNCE_LIMIT), operators through `tidings suppressions` and the
gateway; the router looks a batch's addresses up in one query and records a listed one `suppressed`
(reason `address_suppressed`) instead of sending it. Addresses are normalised by their channel."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from consumer.channel_specs import AddressInvalid, channel_names, registry
from consumer.events import Clock, utcnow
from consumer.settings import Settings
from consumer.text_rules import BODY, SINGLE_LINE, ControlCharacter, field_flaw
from router.fanout import Delivery

# Why an address is listed: what a receipt said, or an operator's decision.
REASONS = ("hard_bounce", "complaint", "unreachable", "soft_bounces", "manual")
REASON = "address_suppressed"  # the DeliveryEvent's reason for a delivery to a listed address

# The table's key must fit in one Postgres index entry (as the device directory's).
MAX_ADDRESS = 2400
MAX_TENANT = 256
MAX_DETAIL = 1000
MAX_PAGE = 1000

Key = tuple[str, str, str]  # (tenant, channel, normalised address)


class SuppressionInvalid(ValueError):
    """A suppression names an unknown channel, an address its channel cannot have, or an unknown
    reason; the message starts with the field."""


class SuppressionCharacter(SuppressionInvalid, ControlCharacter):
    """A field holds NUL or another control character."""


@dataclass(frozen=True)
class SoftBounceRule:
    """`count` soft bounces of one address within `window_s` suppress it; count 0: never."""

    count: int = 3
    window_s: float = 7 * 86400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "SoftBounceRule":
        from consumer.durations import parse_rate

        return cls(*parse_rate(settings.soft_bounce_limit, "TIDINGS_SOFT_BOUNCE_LIMIT"))


def checked(channel: str, address: str) -> str:
    """The address as its channel normalises it; SuppressionInvalid naming the field otherwise."""
    if not isinstance(channel, str) or channel not in channel_names():
        raise SuppressionInvalid(f"channel: {channel!r} is not one of {', '.join(channel_names())}")
    if not isinstance(address, str) or not address.strip():
        raise SuppressionInvalid("address: required, a string")
    if problem := field_flaw("address", address, SINGLE_LINE):
        raise SuppressionCharacter(problem)
    if len(address) > MAX_ADDRESS:
        raise SuppressionInvalid(f"address: longer than {MAX_ADDRESS} characters")
    try:
        return registry()[channel].check_address(address)
    except AddressInvalid as exc:
        raise SuppressionInvalid(f"address: {exc}") from None


def checked_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not tenant.strip():
        raise SuppressionInvalid("tenant: required, a string")
    if problem := field_flaw("tenant", tenant, SINGLE_LINE):
        raise SuppressionCharacter(problem)
    if len(tenant) > MAX_TENANT:
        raise SuppressionInvalid(f"tenant: longer than {MAX_TENANT} characters")
    return tenant


def listed_key(message: dict) -> Key | None:
    """The key a ChannelMessage's address would be listed under; None when its channel refuses the
    address (nothing so written is ever listed, and the worker fails it anyway)."""
    if not message.get("address") or (address := _normalised(message["channel"], message["address"])) is None:
        return None
    return message["tenant"], message["channel"], address


# Parsing a phone number costs ~40 us and a URL ~20 us, as much again as the rest of a delivery's
# routing; the recipients of a stream recur, so the router remembers the latest answers.
@functools.lru_cache(maxsize=16384)
def _normalised(channel: str, address: str) -> str | None:
    spec = registry().get(channel)
    if spec is None:
        return None
    try:
        return spec.check_address(address)
    except (AddressInvalid, ValueError, TypeError):
        return None


def screened(deliveries: list[Delivery], listed: dict[Key, dict]) -> list[Delivery]:
    """Each delivery, or `suppressed` (address_suppressed) when its address is on its tenant's list.
    Every category: a dead or complaining address hurts the sender whatever the message is."""
    out = []
    for delivery in deliveries:
        row = listed.get(listed_key(delivery.message)) if delivery.refusal is None and delivery.suppressed is None \
            else None
        if row is not None:
            delivery = dataclasses.replace(delivery, suppressed=REASON, detail=(
                f"the {delivery.channel} address is on tenant {row['tenant']!r}'s suppression list "
                f"({row['reason']}, since {row['created_at'][:10]})"))
        out.append(delivery)
    return out


class SuppressionList:
    """Plain methods over one psycopg connection (autocommit); inputs and outputs are dicts. The
    clock stamps a suppression or a soft bounce given no time of its own."""

    def __init__(self, conn: psycopg.Connection, soft_bounces: SoftBounceRule = SoftBounceRule(),
                 clock: Clock = utcnow):
        self.conn, self.rule, self.clock = conn, soft_bounces, clock

    @classmethod
    def from_settings(cls, conn: psycopg.Connection, settings: Settings, clock: Clock = utcnow) -> "SuppressionList":
        return cls(conn, SoftBounceRule.from_settings(settings), clock)

    def suppress(self, tenant: str, channel: str, address: str, reason: str, source: str, *,
                 detail: str | None = None, at: datetime | None = None) -> tuple[dict, bool]:
        """List the address (normalised) for the tenant: (its row, whether it was new). An address
        listed already keeps its first reason and time."""
        tenant, address = checked_tenant(tenant), checked(channel, address)
        if reason not in REASONS:
            raise SuppressionInvalid(f"reason: {reason!r} is not one of {', '.join(REASONS)}")
        if not isinstance(source, str) or not source.strip() or field_flaw("source", source, SINGLE_LINE):
            raise SuppressionInvalid("source: required, one line")
        if detail is not None and not isinstance(detail, str):
            raise SuppressionInvalid("detail: expected a string")
        with self.conn.transaction():
            return self._suppress((tenant, channel, address), reason, source[:200], _said(detail), at or self.clock())

    def _suppress(self, key: Key, reason: str, source: str, detail: str | None, at: datetime) -> tuple[dict, bool]:
        added = self.conn.execute(
            "INSERT INTO suppressions (tenant, channel, address, reason, source, detail, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, channel, address) DO NOTHING"
            f" RETURNING {_COLUMNS}", [*key, reason, source, detail, at]).fetchone()
        if added is not None:
            return _row(added), True
        return self._find(key), False

    def soft_bounce(self, tenant: str, channel: str, address: str, at: datetime, *,
                    receipt: str | None = None, source: str = "receipt", detail: str | None = None) -> dict | None:
        """Count a soft bounce at `at`; the suppression when this one makes `count` within the
        window (reason soft_bounces), else None. `receipt` (the delivery id) makes a provider's
        retried callback count once; an already listed address counts nothing more."""
        tenant, address = checked_tenant(tenant), checked(channel, address)
        key = (tenant, channel, address)
        if self.rule.count <= 0:
            return None
        window = timedelta(seconds=self.rule.window_s)
        with self.conn.transaction():
            # One address's bounces are counted one receipt at a time: two arriving together must
            # not each miss the other and leave the address unlisted at its Nth.
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ["\x1f".join(key)])
            if self._find(key) is not None:
                return None
            # Forget what no window can count any more (every address's, so the table stays small).
            self.conn.execute("DELETE FROM soft_bounces WHERE bounced_at < %s",
                              [min(at, self.clock()) - window])
            self.conn.execute(
                "INSERT INTO soft_bounces (tenant, channel, address, receipt, bounced_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING", [*key, SINGLE_LINE.sub("\ufffd", receipt or at.isoformat())[:200], at])
            # The most soft bounces in any one window, so receipts arriving out of order count too.
            most = self.conn.execute(
                "SELECT coalesce(max(n), 0) FROM (SELECT count(*) OVER (ORDER BY bounced_at RANGE BETWEEN"
                " CURRENT ROW AND %s FOLLOWING) AS n FROM soft_bounces"
                " WHERE tenant = %s AND channel = %s AND address = %s) AS windows", [window, *key]).fetchone()[0]
            if most < self.rule.count:
                return None
            self.conn.execute("DELETE FROM soft_bounces WHERE tenant = %s AND channel = %s AND address = %s", key)
            said = f"{most} soft bounces within {_period(self.rule.window_s)}"
            row, _ = self._suppress(key, "soft_bounces", source[:200], _said(f"{said}; the last: {detail}" if detail
                                                                            else said), at)
            return row

    def delivered(self, tenant: str, channel: str, address: str) -> int:
        """A receipt says a message reached the address: its earlier soft bounces no longer count."""
        try:
            key = (checked_tenant(tenant), channel, checked(channel, address))
        except SuppressionInvalid:
            return 0
        return self.conn.execute("DELETE FROM soft_bounces WHERE tenant = %s AND channel = %s AND address = %s",
                                 key).rowcount

    def remove(self, tenant: str, channel: str, address: str) -> bool:
        """Take the address off the tenant's list, with its soft bounces (they start again from 0)."""
        try:
            key = (checked_tenant(tenant), channel, checked(channel, address))
        except SuppressionInvalid as exc:
            if isinstance(exc, SuppressionCharacter):
                raise  # a malformed request, not an address that is not listed
            return False  # never listed: every listed address was checked
        with self.conn.transaction():
            self.conn.execute("DELETE FROM soft_bounces WHERE tenant = %s AND channel = %s AND address = %s", key)
            return self.conn.execute("DELETE FROM suppressions WHERE tenant = %s AND channel = %s AND address = %s",
                                     key).rowcount == 1

    def is_suppressed(self, tenant: str, channel: str, address: str) -> dict | None:
        """The address's row on the tenant's list, or None."""
        try:
            key = (checked_tenant(tenant), channel, checked(channel, address))
        except SuppressionInvalid:
            return None
        return self._find(key)

    def lookup(self, keys: list[Key]) -> dict[Key, dict]:
        """The listed ones of (tenant, channel, normalised address) keys, in one query for a batch."""
        keys = list(set(keys))
        if not keys:
            return {}
        tenants, channels, addresses = (list(column) for column in zip(*keys))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM suppressions JOIN unnest(%b::text[], %b::text[], %b::text[])"
            " AS k(tenant, channel, address) USING (tenant, channel, address)",
            [tenants, channels, addresses]).fetchall()
        return {(row[0], row[1], row[2]): _row(row) for row in rows}

    def list(self, tenants: list[str] | None = None, channel: str | None = None, address: str | None = None,
             limit: int = 100, before: int | None = None) -> tuple[list[dict], int | None]:
        """(rows newest first, the cursor of the next page or None): of these tenants (None: every
        tenant), one channel, one address (normalised by its channel, so a listing finds it as given)."""
        where, values = [], []
        if tenants is not None:
            where.append("tenant = ANY(%s)")
            values.append(list(tenants))
        if channel is not None:
            where.append("channel = %s")
            values.append(channel)
        if address is not None:
            try:
                address = checked(channel, address) if channel is not None else address
            except SuppressionInvalid as exc:
                if isinstance(exc, SuppressionCharacter):
                    raise
                return [], None  # never listed
            where.append("address = %s")
            values.append(address)
        if before is not None:
            where.append("id < %s")
            values.append(before)
        limit = max(1, min(limit, MAX_PAGE))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}, id FROM suppressions {'WHERE ' + ' AND '.join(where) if where else ''}"
            " ORDER BY id DESC LIMIT %s", [*values, limit + 1]).fetchall()
        cursor = rows[limit - 1][-1] if len(rows) > limit else None
        return [_row(row[:-1]) for row in rows[:limit]], cursor

    def _find(self, key: Key) -> dict | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM suppressions WHERE tenant = %s AND channel = %s"
                                " AND address = %s", key).fetchone()
        return _row(row) if row is not None else None


_COLUMNS = "tenant, channel, address, reason, source, detail, created_at"


def _row(row: tuple) -> dict:
    tenant, channel, address, reason, source, detail, created_at = row
    return {"tenant": tenant, "channel": channel, "address": address, "reason": reason, "source": source,
            "detail": detail, "created_at": created_at.isoformat()}


def _said(detail: str | None) -> str | None:
    """A provider's words as Postgres text can hold them: controls but TAB and line breaks (and NUL,
    which text cannot hold) replaced, cut to MAX_DETAIL. A receipt is not refused for its wording."""
    if not detail:
        return None
    return BODY.sub("\ufffd", detail)[:MAX_DETAIL]


def _period(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
