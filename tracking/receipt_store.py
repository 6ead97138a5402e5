"""The receipts table (migration 018): every provider report stored once (its receipt_id), kept
until its delivery has been recorded `sent`, then claimed by the gateway's matcher
(gateway/receipts.py), published as a DeliveryEvent and marked recorded. Plain async functions
over a psycopg connection."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from consumer.text_rules import BODY, SINGLE_LINE
from tracking.receipts import Receipt

# A text key must fit in one index entry; a provider's wording is cut rather than refused.
MAX_ID = 512
MAX_ADDRESS = 2400
MAX_CODE = 200
MAX_DETAIL = 1000


@dataclass(frozen=True)
class Matched:
    """A stored receipt and the delivery it names (its deliveries row, as the matcher reads it)."""

    receipt: Receipt
    delivery: dict


def problem(receipt: Receipt) -> str | None:
    """Why the receipt cannot be stored (an id too long to be a key, a channel's name that is not
    one), or None. Its other text is stored as Postgres can hold it."""
    for name in ("receipt_id", "provider_message_id", "source", "channel"):
        value = getattr(receipt, name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_ID or not value.strip()):
            return f"{name}: expected a non-empty string of at most {MAX_ID} characters"
        if value is not None and SINGLE_LINE.search(value):
            return f"{name}: contains a control character"
    if receipt.delivery_id is not None and _uuid(receipt.delivery_id) is None and not receipt.provider_message_id:
        return f"delivery_id: {str(receipt.delivery_id)[:60]!r} is not a delivery id (a UUID)"
    if not isinstance(receipt.occurred_at, datetime) or receipt.occurred_at.tzinfo is None:
        return "occurred_at: expected a time with its zone"
    return None


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _text(value: str | None, limit: int, rule=SINGLE_LINE) -> str | None:
    """As Postgres text holds it: control characters (NUL above all) replaced, cut to `limit`."""
    return None if value is None else rule.sub("\ufffd", str(value))[:limit]


_STORE = """
INSERT INTO receipts (receipt_id, source, channel, status, bounce, occurred_at, provider_message_id, delivery_id,
                      address, error_code, detail, received_at, next_match_at)
SELECT *, r.received_at FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
                                    %s::text[], %s::uuid[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
    AS r (receipt_id, source, channel, status, bounce, occurred_at, provider_message_id, delivery_id, address,
          error_code, detail, received_at)
ON CONFLICT (receipt_id) DO NOTHING
RETURNING receipt_id
"""


async def store(conn: psycopg.AsyncConnection, receipts: list[Receipt], received_at: datetime) -> list[str]:
    """Insert the receipts not stored before (checked by `problem` first); their ids, in order.
    A new receipt is due for matching at once."""
    if not receipts:
        return []
    rows = [(r.receipt_id, r.source, r.channel, r.status, r.bounce, r.occurred_at,
             r.provider_message_id, _uuid(r.delivery_id) if r.delivery_id is not None else None,
             _text(r.address, MAX_ADDRESS), _text(r.error_code, MAX_CODE), _text(r.detail, MAX_DETAIL, BODY),
             received_at) for r in receipts]
    cur = await conn.execute(_STORE, [list(column) for column in zip(*rows)])
    new = {receipt_id for (receipt_id,) in await cur.fetchall()}
    return [r.receipt_id for r in receipts if r.receipt_id in new]


# Up to `limit` due waiting receipts, locked (SKIP LOCKED: gateways matching at once never take the
# same one), in the provider's order (a delivered after a soft bounce forgets it), each with its
# delivery if that has been recorded `sent`: by the delivery's id when the receipt carries one, else
# by the provider's message id in the receipt's channel (the newest, should two share one).
_CLAIM = """
WITH due AS (
    SELECT * FROM receipts
    WHERE recorded_at IS NULL AND next_match_at <= %(now)s
      AND (%(ids)s::text[] IS NULL OR receipt_id = ANY(%(ids)s::text[]))
    ORDER BY next_match_at, occurred_at, receipt_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
SELECT r.receipt_id, r.source, r.channel, r.status, r.bounce, r.occurred_at, r.provider_message_id,
       r.delivery_id::text, r.address, r.error_code, r.detail,
       d.delivery_id::text AS d_delivery_id, d.notification_id::text, d.channel AS d_channel, d.priority,
       d.recipient_id, d.source AS d_source, d.tenant, d.category, d.attempts, d.replay,
       d.provider_message_id AS d_provider_message_id, d.sent_at
FROM due AS r
LEFT JOIN LATERAL (
    SELECT * FROM deliveries AS d
    WHERE d.sent_at IS NOT NULL AND d.channel = r.channel
      AND (d.delivery_id = r.delivery_id
           OR (r.delivery_id IS NULL AND d.provider_message_id = r.provider_message_id))
    ORDER BY d.last_event_at DESC
    LIMIT 1) AS d ON true
ORDER BY r.next_match_at, r.occurred_at, r.receipt_id
"""

_DELIVERY = ("delivery_id", "notification_id", "channel", "priority", "recipient_id", "source", "tenant", "category",
             "attempts", "replay", "provider_message_id", "sent_at")


async def claim(conn: psycopg.AsyncConnection, now: datetime, limit: int,
                ids: list[str] | None = None) -> tuple[list[Matched], list[str]]:
    """Lock up to `limit` due receipts (of `ids` only, if given): (those whose delivery is recorded
    `sent`, the ids of the others). Call inside a transaction; mark the first recorded and `defer`
    the others in it."""
    cur = await conn.execute(_CLAIM, {"now": now, "limit": limit, "ids": ids})
    matched, unmatched = [], []
    for row in await cur.fetchall():
        if row[11] is None:
            unmatched.append(row[0])
            continue
        receipt = Receipt(receipt_id=row[0], source=row[1], channel=row[2], status=row[3], bounce=row[4],
                          occurred_at=row[5], provider_message_id=row[6], delivery_id=row[7], address=row[8],
                          error_code=row[9], detail=row[10])
        matched.append(Matched(receipt, dict(zip(_DELIVERY, row[11:]))))
    return matched, unmatched


async def mark_recorded(conn: psycopg.AsyncConnection, matched: list[Matched], now: datetime) -> None:
    await conn.execute(
        "UPDATE receipts AS r SET recorded_at = %s, matched_delivery_id = m.delivery_id"
        " FROM unnest(%s::text[], %s::uuid[]) AS m (receipt_id, delivery_id) WHERE r.receipt_id = m.receipt_id",
        [now, [m.receipt.receipt_id for m in matched], [m.delivery["delivery_id"] for m in matched]])


async def defer(conn: psycopg.AsyncConnection, ids: list[str], now: datetime, first_s: float, most_s: float) -> int:
    """Receipts that matched nothing: tried again after first_s, doubling with each miss up to
    most_s. How many."""
    if not ids:
        return 0
    cur = await conn.execute(
        "UPDATE receipts SET attempts = attempts + 1,"
        " next_match_at = %(now)s + least(%(first)s * power(2, least(attempts, 30)), %(most)s) * interval '1 second'"
        " WHERE receipt_id = ANY(%(ids)s::text[])", {"now": now, "first": first_s, "most": most_s, "ids": ids})
    return cur.rowcount


async def waiting(conn: psycopg.AsyncConnection) -> int:
    """Receipts stored and not yet matched to a delivery."""
    cur = await conn.execute("SELECT count(*) FROM receipts WHERE recorded_at IS NULL")
    return (await cur.fetchone())[0]


async def forget_unmatched(conn: psycopg.AsyncConnection, now: datetime, after_s: float) -> int:
    """Give up on receipts that matched no delivery within `after_s` of arriving (a report about
    mail Tidings did not send, or a delivery pruned since): delete them. How many."""
    cur = await conn.execute("DELETE FROM receipts WHERE recorded_at IS NULL AND received_at < %s",
                             [now - timedelta(seconds=after_s)])
    return cur.rowcount
