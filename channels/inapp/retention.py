"""`tidings db prune` for the inbox: items older than TIDINGS_INAPP_RETENTION, and archived items
archived longer ago than TIDINGS_INAPP_ARCHIVED_RETENTION."""
from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from channels.inapp.settings import InappSettings
from consumer.durations import parse_duration
from consumer.settings import Settings


def prune(conn: psycopg.Connection, now: datetime, settings: Settings) -> dict:
    own = settings.section(InappSettings)
    old = now - timedelta(seconds=parse_duration(own.inapp_retention, "TIDINGS_INAPP_RETENTION"))
    archived = now - timedelta(seconds=parse_duration(own.inapp_archived_retention, "TIDINGS_INAPP_ARCHIVED_RETENTION"))
    removed = conn.execute("DELETE FROM inbox_items WHERE delivered_at < %s OR archived_at < %s", [old, archived])
    return {"inbox_items_removed": removed.rowcount}
