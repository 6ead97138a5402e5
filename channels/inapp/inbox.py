"""The inbox (table `inbox_items`): written by the inbox channel worker, read and marked through the
gateway's feed API. Every read and change names the tenant and recipient of the caller's token, so
one recipient never sees another's items. A write or change is announced on the Postgres channel
`inbox_changes` (NOTIFY, sent at commit), which every gateway process listens to for live streams."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from channels.inapp.item import Item

NOTIFY_CHANNEL = "inbox_changes"
COLUMNS = ("seq, delivery_id, notification_id, title, body, body_html, action_url, data, category, priority, "
           "source, created_at, seen_at, read_at, archived_at")

_WRITE = f"""
WITH added AS (
    INSERT INTO inbox_items (delivery_id, notification_id, tenant, recipient_id, title, body, body_html, action_url,
                             data, category, priority, source, created_at)
    VALUES (%(delivery_id)s, %(notification_id)s, %(tenant)s, %(recipient_id)s, %(title)s, %(body)s, %(body_html)s,
            %(action_url)s, %(data)s, %(category)s, %(priority)s, %(source)s, %(created_at)s)
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING seq, tenant, recipient_id
)
SELECT seq, pg_notify('{NOTIFY_CHANNEL}', json_build_object('t', tenant, 'r', recipient_id, 'seq', seq)::text)
FROM added
"""

# What each mark changes, and the condition under which it changes anything.
MARKS = {
    "seen": ("seen_at = %(at)s", "seen_at IS NULL"),
    "read": ("read_at = %(at)s, seen_at = coalesce(seen_at, %(at)s)", "read_at IS NULL"),
    "unread": ("read_at = NULL", "read_at IS NOT NULL"),
    "archived": ("archived_at = %(at)s, seen_at = coalesce(seen_at, %(at)s)", "archived_at IS NULL"),
    "unarchived": ("archived_at = NULL", "archived_at IS NOT NULL"),
}
# The marks that may be applied to every item at once, and the ones recorded as DeliveryEvents.
MARKS_FOR_ALL = ("seen", "read", "archived")
RECORDED = ("seen", "read", "archived")


@dataclass(frozen=True)
class Reader:
    """Whose inbox: a tenant and a recipient, from a verified feed token."""

    tenant: str
    recipient_id: str


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None


async def write(conn: psycopg.AsyncConnection, item: Item) -> int | None:
    """Add the item; its sequence number, or None when it was already there (a redone message)."""
    row = await (await conn.execute(_WRITE, item.__dict__)).fetchone()
    return row[0] if row else None


def shown(row: dict) -> dict:
    """An item as the feed API and the live stream show it."""
    item = {name: row[name] for name in ("seq", "title", "body", "body_html", "action_url", "data", "category",
                                         "priority")}
    item["id"] = str(row["delivery_id"])
    item["notification_id"] = str(row["notification_id"])
    for name in ("created_at", "seen_at", "read_at", "archived_at"):
        value: datetime | None = row[name]
        item[name] = value.isoformat() if value is not None else None
    return item


def _mine(reader: Reader) -> sql.Composable:
    return sql.SQL("tenant = {} AND recipient_id = {}").format(sql.Literal(reader.tenant),
                                                               sql.Literal(reader.recipient_id))


class Inbox:
    """The feed's queries over one async connection."""

    def __init__(self, conn: psycopg.AsyncConnection):
        self.conn = conn

    async def page(self, reader: Reader, limit: int, cursor: int | None = None, unread: bool | None = None,
                   category: str | None = None, archived: bool = False) -> Page:
        where = [_mine(reader), sql.SQL("archived_at IS NOT NULL") if archived else sql.SQL("archived_at IS NULL")]
        if cursor is not None:
            where.append(sql.SQL("seq < {}").format(sql.Literal(cursor)))
        if unread is not None:
            where.append(sql.SQL("read_at IS NULL") if unread else sql.SQL("read_at IS NOT NULL"))
        if category is not None:
            where.append(sql.SQL("category = {}").format(sql.Literal(category)))
        query = sql.SQL("SELECT {} FROM inbox_items WHERE {} ORDER BY seq DESC LIMIT {}").format(
            sql.SQL(COLUMNS), sql.SQL(" AND ").join(where), sql.Literal(limit + 1))
        rows = await self._rows(query)
        items = [shown(row) for row in rows[:limit]]
        return Page(items, str(items[-1]["seq"]) if len(rows) > limit else None)

    async def counts(self, reader: Reader) -> dict:
        query = sql.SQL("SELECT count(*) FILTER (WHERE read_at IS NULL) AS unread, "
                        "count(*) FILTER (WHERE seen_at IS NULL) AS unseen "
                        "FROM inbox_items WHERE {} AND archived_at IS NULL "
                        "AND (read_at IS NULL OR seen_at IS NULL)").format(_mine(reader))
        return (await self._rows(query))[0]

    async def after(self, reader: Reader, seq: int, limit: int) -> list[dict]:
        """The items after `seq`, oldest first (a stream resumed with Last-Event-ID)."""
        query = sql.SQL("SELECT {} FROM inbox_items WHERE {} AND seq > {} ORDER BY seq LIMIT {}").format(
            sql.SQL(COLUMNS), _mine(reader), sql.Literal(seq), sql.Literal(limit))
        return [shown(row) for row in await self._rows(query)]

    async def latest(self, reader: Reader) -> int:
        """The newest item's seq (0 for an empty inbox): where a fresh stream starts."""
        query = sql.SQL("SELECT coalesce(max(seq), 0) AS seq FROM inbox_items WHERE {}").format(_mine(reader))
        return (await self._rows(query))[0]["seq"]

    async def by_seq(self, seqs: list[int]) -> dict[int, tuple[Reader, dict]]:
        """New items announced by NOTIFY, with whose they are."""
        query = sql.SQL("SELECT tenant, recipient_id, {} FROM inbox_items WHERE seq = ANY({})").format(
            sql.SQL(COLUMNS), sql.Literal(seqs))
        return {row["seq"]: (Reader(row["tenant"], row["recipient_id"]), shown(row)) for row in await self._rows(query)}

    async def item(self, reader: Reader, item_id: str) -> dict | None:
        query = sql.SQL("SELECT {} FROM inbox_items WHERE {} AND delivery_id = {}").format(
            sql.SQL(COLUMNS), _mine(reader), sql.Literal(item_id))
        rows = await self._rows(query)
        return shown(rows[0]) if rows else None

    async def mark(self, reader: Reader, state: str, at: datetime, item_id: str | None = None) -> list[dict]:
        """Apply a mark to one item (or to all the reader's items not archived, for MARKS_FOR_ALL)
        and announce it; the rows it changed, with what a DeliveryEvent needs. Run inside a
        transaction that commits only once those events are acknowledged."""
        change, unchanged = MARKS[state]
        where = [_mine(reader), sql.SQL(unchanged)]
        if item_id is not None:
            where.append(sql.SQL("delivery_id = {}").format(sql.Literal(item_id)))
        elif state != "archived":
            where.append(sql.SQL("archived_at IS NULL"))
        query = sql.SQL("UPDATE inbox_items SET {} WHERE {} RETURNING delivery_id, notification_id, tenant, "
                        "recipient_id, category, priority, source").format(
            sql.SQL(change), sql.SQL(" AND ").join(where))
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, {"at": at})
            changed = await cur.fetchall()
            if changed:
                note = {"t": reader.tenant, "r": reader.recipient_id, "id": item_id}
                await cur.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, json.dumps(note)])
        return changed

    async def _rows(self, query: sql.Composable) -> list[dict]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query)
            return await cur.fetchall()
