"""bench.delivery_history: a small log filled the way the sink writes it, with every index of the
migrations back in place afterwards."""
from __future__ import annotations

import psycopg

from bench.delivery_history import fill
from tracking.migrate import migrate

INDEXES = ("SELECT indexrelid::regclass::text FROM pg_index"
           " WHERE indrelid = ANY('{delivery_events,delivery_event_ids,deliveries}'::regclass[]) ORDER BY 1")


def test_a_month_of_history_as_the_sink_writes_it(database_url):
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        indexes = conn.execute(INDEXES).fetchall()
    filled = fill(database_url, 5000, days=30, progress=lambda line: None)
    assert 4500 < filled["history_events"] < 5500
    with psycopg.connect(database_url) as conn:
        assert conn.execute(INDEXES).fetchall() == indexes
        events, folded, deliveries, days = conn.execute(
            "SELECT (SELECT count(*) FROM delivery_events), (SELECT sum(event_count) FROM deliveries),"
            " (SELECT count(*) FROM deliveries), (SELECT count(DISTINCT occurred_at::date) FROM delivery_events)"
        ).fetchone()
        assert events == folded == conn.execute("SELECT count(*) FROM delivery_event_ids").fetchone()[0]
        assert deliveries == filled["history_deliveries"] and days >= 30
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
    assert statuses["sent"] + statuses["delivered"] > 0.8 * deliveries
    assert {"suppressed", "dead_lettered", "failed", "bounced", "undelivered"} <= set(statuses)
