"""The delivery log's day partitions (migration 008) and `prune`: a partition per UTC day of the
events, idempotency across days, an upgrade that keeps the old rows, and pruning whole days."""
from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import uuid

import psycopg
import pytest

from tests.tracking.test_store import T0, event, record
from tracking.migrate import MIGRATIONS_DIR, migrate
from tracking.prune import prune
from tracking.store import DeliveryLog

DAY = dt.timedelta(days=1)


def partitions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [name for (name,) in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'delivery_events'::regclass ORDER BY 1")]


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_events_land_in_one_partition_per_utc_day(database_url):
    migrate(database_url)
    d = uuid.uuid4()
    # 23:30 UTC and 00:30 UTC the next day are two days, whatever the session's time zone.
    late = T0.replace(hour=23, minute=30)
    record(database_url, [event(d, "queued", seconds=(late - T0).total_seconds()),
                          event(d, "sent", seconds=(late - T0).total_seconds() + 3600, attempt=1),
                          event(uuid.uuid4(), "queued", seconds=-40 * 86400)])
    assert partitions(database_url) == ["delivery_events_20241122", "delivery_events_20250101",
                                        "delivery_events_20250102"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM delivery_events_20250102").fetchone()[0] == 1


def test_a_redone_event_with_a_later_time_is_recorded_once(database_url):
    """A crash redoes a message: same event id, new occurred_at, possibly the next day."""
    migrate(database_url)
    d = uuid.uuid4()
    first = event(d, "sent", attempt=1)
    redone = {**first, "occurred_at": T0 + DAY}
    assert record(database_url, [first]) == 1
    assert record(database_url, [redone]) == 0
    assert count(database_url, "delivery_events") == 1
    assert count(database_url, "delivery_event_ids") == 1


def test_upgrade_moves_existing_rows_into_partitions(database_url, tmp_path):
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "008":
            shutil.copy(path, tmp_path / path.name)
    migrate(database_url, tmp_path)
    with psycopg.connect(database_url) as conn:
        for days, status in ((0, "queued"), (0, "sent"), (3, "queued")):
            conn.execute(
                "INSERT INTO delivery_events (event_id, notification_id, delivery_id, channel, priority, status,"
                " attempt, occurred_at) VALUES (%s, %s, %s, 'email', 'NORMAL', %s, 0, %s)",
                [uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), status, T0 + days * DAY])
    applied = migrate(database_url)
    assert "008_daily_partitions.sql" in applied
    assert count(database_url, "delivery_events") == 3
    assert count(database_url, "delivery_event_ids") == 3
    assert partitions(database_url) == ["delivery_events_20250101", "delivery_events_20250104"]


def test_prune_drops_whole_days_before_the_cutoff(database_url):
    migrate(database_url)
    old, edge, recent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    record(database_url, [event(old, "queued", seconds=-100 * 86400),
                          event(old, "sent", seconds=-100 * 86400 + 5, attempt=1),
                          event(edge, "queued", seconds=-91 * 86400),
                          event(recent, "queued", seconds=-86400)])
    cutoff = T0 - 90 * DAY + dt.timedelta(hours=6)  # mid-day: that day itself stays
    with psycopg.connect(database_url) as conn:
        dry = prune(conn, cutoff, dry_run=True)
    assert dry["partitions_dropped"] == ["delivery_events_20240923", "delivery_events_20241002"]
    assert len(partitions(database_url)) == 3 and count(database_url, "deliveries") == 3
    with psycopg.connect(database_url) as conn:
        done = prune(conn, cutoff)
    assert done == {**dry, "dry_run": False}
    assert (done["events_removed"], done["deliveries_removed"]) == (3, 2)
    assert partitions(database_url) == ["delivery_events_20241231"]
    with psycopg.connect(database_url) as conn:
        assert [str(d) for (d,) in conn.execute("SELECT delivery_id FROM deliveries")] == [str(recent)]


def test_the_sink_recreates_a_pruned_day(database_url):
    """A sink that saw a day before it was pruned, then meets an event of that day again."""
    migrate(database_url)

    async def go():
        async with await DeliveryLog.connect(database_url) as log:
            assert await log.record([event(uuid.uuid4(), "queued", seconds=-100 * 86400)]) == 1
            with psycopg.connect(database_url) as conn:
                prune(conn, T0)
            return await log.record([event(uuid.uuid4(), "queued", seconds=-100 * 86400 + 60)])

    assert asyncio.run(go()) == 1
    assert count(database_url, "delivery_events") == 1


def test_prune_on_an_empty_log_drops_nothing(database_url):
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        assert prune(conn, T0)["partitions_dropped"] == []
