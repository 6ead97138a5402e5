"""`tidings db prune` removes inbox items past TIDINGS_INAPP_RETENTION and archived items past
TIDINGS_INAPP_ARCHIVED_RETENTION, and digests sent before its cut-off, and keeps the rest."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import psycopg


def add_item(conn, title: str, delivered_days_ago: float, archived_days_ago: float | None = None) -> None:
    conn.execute(
        "INSERT INTO inbox_items (delivery_id, notification_id, tenant, recipient_id, title, body, category, priority,"
        " source, created_at, delivered_at, archived_at) VALUES (%s, %s, 'acme', 'ada', %s, '', 'c', 'NORMAL', 't',"
        " now(), now() - make_interval(days => %s), now() - make_interval(days => %s))",
        [uuid.uuid4(), uuid.uuid4(), title, delivered_days_ago, archived_days_ago])


def test_prune_removes_old_and_long_archived_items(pipeline):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        add_item(conn, "fresh", 1)
        add_item(conn, "old", 40)
        add_item(conn, "archived long ago", 20, archived_days_ago=15)
        add_item(conn, "archived lately", 20, archived_days_ago=2)
        for closed in ("now() - interval '100 days'", "NULL"):  # a digest sent long ago, and an open one
            conn.execute("INSERT INTO digests (digest_id, recipient_id, channel, digest_key, opened_at, closes_at,"
                         f" closed_at) VALUES (%s, 'ada', 'email', 'k', now(), now(), {closed})", [uuid.uuid4()])
    environ = {"TIDINGS_DATABASE_URL": pipeline.database_url, "TIDINGS_INAPP_RETENTION": "30d",
               "TIDINGS_INAPP_ARCHIVED_RETENTION": "7d", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "cli.main", "db", "prune", "--older-than", "90d", "--json"],
                          env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inbox_items_removed"] == 2
    assert json.loads(done.stdout)["digests_removed"] == 1
    with psycopg.connect(pipeline.database_url) as conn:
        left = {title for (title,) in conn.execute("SELECT title FROM inbox_items")}
    assert left == {"fresh", "archived lately"}
    text = subprocess.run([sys.executable, "-m", "cli.main", "db", "prune", "--older-than", "90d"],
                          env=environ, capture_output=True, text=True, timeout=120)
    assert "0 inbox items" in text.stdout, text.stdout
