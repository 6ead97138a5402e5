"""Digests, the router's side: a delivery whose event names a digest (or whose category has a rule
in TIDINGS_DIGEST_RULES) is not published but folded into the open digest of its recipient, channel
and key in Postgres (tables digests, digest_items), and the digest's one message is rendered again
with every item so far. Opening a digest (and filling it) publishes its close marker: the digest's
ChannelMessage held on the channel's retry tiers until the window closes (consumer/holds.py), which
the channel worker turns into the one send (channels/digest_closes.py)."""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from consumer.codec import Codec
from consumer.durations import parse_duration
from consumer.events import CHANNEL_MESSAGE, Clock, channel_content
from consumer.postgres import connect
from consumer.settings import SettingsError
from router.fanout import Delivery
from router.personalize import apply
from router.render_pool import RenderPool
from router.template_cache import TemplateCache
from router.template_store import TemplateStore
from router.templates import RenderError, template_context

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("0b6f4c1e-5d0a-4f7e-9a57-1d2b7e9c4a31")

# Per (tenant, recipient, channel, key): a second router (a rebalance) waits, so one window opens.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 20))"
_ITEM = "SELECT d.digest_id::text, d.closes_at, d.closed_at, d.item_count, d.message FROM digest_items i " \
        "JOIN digests d USING (digest_id) WHERE i.delivery_id = %s"
# The open window to add to; FOR UPDATE waits for a close in progress, then skips the closed row.
_OPEN = "SELECT digest_id::text, opened_at, closes_at FROM digests WHERE recipient_id = %s AND channel = %s " \
        "AND digest_key = %s AND tenant IS NOT DISTINCT FROM %s AND closed_at IS NULL AND closes_at > %s " \
        "AND item_count < %s ORDER BY opened_at DESC LIMIT 1 FOR UPDATE"
_CREATE = "INSERT INTO digests (digest_id, tenant, recipient_id, channel, digest_key, opened_at, closes_at) " \
          "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (digest_id) DO NOTHING"
_ADD = "INSERT INTO digest_items (delivery_id, digest_id, notification_id, item) VALUES (%s, %s, %s, %s)"
_ITEMS = "SELECT item FROM digest_items WHERE digest_id = %s ORDER BY added_at, delivery_id"
_STORE = "UPDATE digests SET item_count = %s, message = %s WHERE digest_id = %s"


def parse_rules(text: str, setting: str = "TIDINGS_DIGEST_RULES") -> dict[str, float]:
    """`comments=10m,mentions=1h` -> category -> window in seconds."""
    rules = {}
    for entry in (e.strip() for e in (text or "").split(",")):
        if not entry:
            continue
        category, sep, window = entry.partition("=")
        if not sep or not category.strip():
            raise SettingsError(f"{setting}: {entry!r} is not `category=window`, e.g. comments=10m")
        rules[category.strip()] = parse_duration(window.strip(), setting)
    return rules


def digest_of(event: dict, rules: dict[str, float], critical: frozenset[str]) -> tuple[str, float] | None:
    """(key, window in seconds) the event's deliveries fold under: its own `digest`, else its
    category's rule (not for URGENT or a critical category); None when they go on their own."""
    if event.get("digest"):
        return event["digest"]["key"], event["digest"]["window_ms"] / 1000
    category = event["category"]
    if category in rules and event["priority"] != "URGENT" and category not in critical:
        return category, rules[category]
    return None


def digest_id(message: dict, key: str, opened_at: datetime) -> str:
    """The digest's id, also its message's delivery id and notification id."""
    name = f"{message['tenant']}/{message['recipient_id']}/{message['channel']}/{key}/{opened_at.isoformat()}"
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True)
class Folded:
    delivery: Delivery
    digest_id: str
    key: str
    closes_at: datetime
    marker: dict | None = None        # the digest's ChannelMessage, to publish as its close marker
    marker_due: datetime | None = None


def item_of(message: dict, event: dict) -> dict:
    """What a digest keeps of a delivery: what the template shows and what its `sent` record needs."""
    created = message["created_at"]
    return {"delivery_id": str(message["delivery_id"]), "notification_id": str(message["notification_id"]),
            "priority": message["priority"], "source": message["source"], "category": message["category"],
            "subject": message.get("subject"), "text": message.get("text"),
            "data": _json_or_text(event.get("data")),  # the event's, not a rendered webhook body
            "created_at": created.isoformat() if isinstance(created, datetime) else created}


def default_text(items: list[dict]) -> str:
    """Without a template: `3 new notifications: first; second; third`."""
    titles = [i.get("subject") or i.get("text") or i["notification_id"] for i in items]
    noun = "notification" if len(items) == 1 else "notifications"
    return f"{len(items)} new {noun}: " + "; ".join(titles)


class DigestBook:
    """One connection of its own (the personalizer's is busy in another thread)."""

    def __init__(self, database_url: str, renderer: RenderPool, codec: Codec, max_items: int,
                 template_ttl_s: float, clock: Clock):
        self.database_url = database_url
        self.renderer = renderer
        self.codec = codec
        self.max_items = max_items
        self.template_ttl_s = template_ttl_s
        self.clock = clock
        self.conn: psycopg.Connection | None = None

    def fold(self, work: list[tuple[dict, Delivery, str, float]]) -> list[Folded]:
        """(event, delivery, key, window_s) -> each delivery folded. Blocking; redoing a batch
        adds nothing (items are keyed by delivery id) but publishes the open digests' markers again
        (the worker's claim sends a digest once), so a crash before the publish loses no marker."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = connect(self.database_url)
            self.templates = TemplateCache(TemplateStore(self.conn, self.renderer), self.template_ttl_s)
        now = self.clock()
        with self.conn.transaction():
            for lock in sorted({_lock_key(d.message, key) for _, d, key, _ in work}):
                self.conn.execute(_LOCK, [lock])
            return [self._fold_one(event, delivery, key, window_s, now) for event, delivery, key, window_s in work]

    def _fold_one(self, event: dict, delivery: Delivery, key: str, window_s: float, now: datetime) -> Folded:
        message = delivery.message
        known = self.conn.execute(_ITEM, [message["delivery_id"]]).fetchone()
        if known is not None:  # routed before: the same digest; its marker again while it is open
            found_id, closes_at, closed_at, count, value = known
            if closed_at is not None or value is None:
                return Folded(delivery, found_id, key, closes_at)
            return Folded(delivery, found_id, key, closes_at, self.codec.decode(CHANNEL_MESSAGE, value),
                          now if count >= self.max_items else closes_at)
        row = self.conn.execute(_OPEN, [message["recipient_id"], message["channel"], key, message["tenant"], now,
                                        self.max_items]).fetchone()
        opened = row is None
        if opened:
            found_id, opened_at, closes_at = digest_id(message, key, now), now, now + timedelta(seconds=window_s)
            self.conn.execute(_CREATE, [found_id, message["tenant"], message["recipient_id"], message["channel"], key,
                                        opened_at, closes_at])
        else:
            found_id, opened_at, closes_at = row
        self.conn.execute(_ADD, [message["delivery_id"], found_id, message["notification_id"],
                                 json.dumps(item_of(message, event), default=str)])
        items = [i for (i,) in self.conn.execute(_ITEMS, [found_id]).fetchall()]
        digest = self._message(event, message, found_id, key, opened_at, items)
        self.conn.execute(_STORE, [len(items), self.codec.encode(CHANNEL_MESSAGE, digest), found_id])
        full = len(items) >= self.max_items
        if opened or full:  # full: a marker due now closes it early
            return Folded(delivery, found_id, key, closes_at, digest, now if full else closes_at)
        return Folded(delivery, found_id, key, closes_at)

    def _message(self, event: dict, message: dict, found_id: str, key: str, opened_at: datetime,
                 items: list[dict]) -> dict:
        """The digest's ChannelMessage as of its newest item: that item's address, options and
        template (rendered with `digest.count`, `digest.key` and `digest.events`), else the default text."""
        # `events`, not `items`: in a template digest.items would be the dict's method.
        summary = {"key": key, "count": len(items), "events": items}
        content = channel_content(event["content"], message["channel"])
        digest = {**message, "delivery_id": found_id, "notification_id": found_id, "created_at": opened_at,
                  "subject": f"{len(items)} new notifications", "text": default_text(items), "html": None,
                  "template": None, "data": json.dumps({"digest": summary}, separators=(",", ":"), default=str),
                  "expires_at": None, "attempt": 1, "replay": 0,
                  "options": content.get("options") or "{}"}  # as given: not what the item's own render set
        ref = content.get("template")
        if ref is None:
            return digest
        try:
            template = self.templates.get(ref["name"], ref.get("version"))
            data = _json_or_text(event["data"])
            context = template_context(data if isinstance(data, dict) else {}, event["recipient"], event)
            context["notification"]["id"] = found_id  # the digest is a notification of its own
            context["digest"] = summary
            parts = self.renderer.render_channel(template, message["channel"], event["recipient"].get("locale"),
                                                 context)
        except RenderError as exc:  # one bad render must not lose the items: the default text goes
            log.warning("digest %s: template %s did not render (%s); sending the default text", found_id,
                        ref["name"], exc)
            return digest
        return apply({**digest, "subject": None, "text": None}, parts, template.ref)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _lock_key(message: dict, key: str) -> str:
    return f"{message['tenant']}/{message['recipient_id']}/{message['channel']}/{key}"


def _json_or_text(value: str | None):
    try:
        return json.loads(value) if value else None
    except ValueError:
        return value
