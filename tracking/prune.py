"""`tidings db prune --older-than 90d`: drop the delivery log's day partitions that lie wholly
before the cut-off, with the id-ledger rows, the deliveries whose last event is that old, the
receipts received before it, the release claims and cancellations of held deliveries, and the
digests sent before it."""
from __future__ import annotations

import datetime as dt
import re

import psycopg
from psycopg import sql

from consumer.channel_specs import registry
from consumer.settings import Settings

_PARTITION = re.compile(r"^delivery_events_(\d{8})$")

_PARTITIONS = """
SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = 'delivery_events'::regclass ORDER BY c.relname
"""

# The deliveries whose last event is older than the edge. first_event_at says nothing more (a delivery
# is created before its last event) but is the indexed one (migration 022).
OLD_DELIVERIES = "DELETE FROM deliveries WHERE first_event_at < %(edge)s AND last_event_at < %(edge)s"


def boundary(cutoff: dt.datetime) -> dt.datetime:
    """Midnight UTC of the cut-off's day: only whole days before it are pruned."""
    day = cutoff.astimezone(dt.timezone.utc).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def prune(conn: psycopg.Connection, cutoff: dt.datetime, dry_run: bool = False, settings: Settings | None = None,
          now: dt.datetime | None = None) -> dict:
    """Remove what is older than `cutoff` (rounded down to a whole UTC day), in one transaction;
    with dry_run, report what would go and change nothing. Returns what was (or would be) removed.
    With settings, each channel's own tables too, by the channel's retention settings (the inbox)."""
    edge = boundary(cutoff)
    with conn.transaction(force_rollback=dry_run):
        names = [name for (name,) in conn.execute(_PARTITIONS).fetchall()]
        old = [name for name in names
               if (m := _PARTITION.match(name)) and dt.datetime.strptime(m[1], "%Y%m%d").date() < edge.date()]
        for name in old:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        ids = conn.execute("DELETE FROM delivery_event_ids WHERE occurred_at < %s", [edge]).rowcount
        deliveries = conn.execute(OLD_DELIVERIES, {"edge": edge}).rowcount
        # What held deliveries left behind (migration 019): which copy went out, who cancelled.
        held = conn.execute("DELETE FROM held_releases WHERE released_at < %s", [edge]).rowcount + \
            conn.execute("DELETE FROM cancellations WHERE cancelled_at < %s", [edge]).rowcount
        # A receipt is kept as long as the log: so long, a provider's retried callback records nothing.
        receipts = conn.execute("DELETE FROM receipts WHERE received_at < %s", [edge]).rowcount
        # Digests sent before the cut-off, with their items (ON DELETE CASCADE); open ones stay.
        digests = conn.execute("DELETE FROM digests WHERE closed_at < %s", [edge]).rowcount
        channels = {} if settings is None else channel_prunes(conn, now or dt.datetime.now(dt.timezone.utc), settings)
    return {"before": edge.isoformat(), "dry_run": dry_run, "partitions_dropped": old,
            "events_removed": ids, "deliveries_removed": deliveries, "receipts_removed": receipts,
            "held_records_removed": held, "digests_removed": digests, **channels}


def channel_prunes(conn: psycopg.Connection, now: dt.datetime, settings: Settings) -> dict:
    removed: dict = {}
    for spec in registry().values():
        if (hook := spec.load_prune()) is not None:
            removed.update(hook(conn, now, settings))
    return removed
