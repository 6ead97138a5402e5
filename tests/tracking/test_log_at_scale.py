"""Migration 022 on a log with some history: `tidings stats` counts the window's suppressed deliveries
and its retries from the partial indexes, not from every delivery or event of the window, and the
two indexes it dropped are not missed (one delivery's events, pruning old deliveries).
bench.sink_scale measures the same at 20M events."""
from __future__ import annotations

import datetime as dt
import re

import psycopg
import pytest

from tracking.migrate import migrate
from tracking.prune import OLD_DELIVERIES
from tracking.stats import DELIVERY_STORY
from tracking.summary import stats_queries

# 100,000 deliveries over the last 29 days (one in 33 suppressed), and 100,000 events over the last
# 3 days (one in ten a retry), each day's events in its own partition.
_SEED = """
SELECT tidings_ensure_event_partitions(ARRAY(SELECT (now() - d * interval '1 day')::date FROM generate_series(0, 30) AS d));
INSERT INTO deliveries (delivery_id, notification_id, channel, priority, status, status_at, status_event_id,
                        attempts, event_count, first_event_at, last_event_at, reason, sent_at)
SELECT md5('d' || i)::uuid, md5('n' || i)::uuid, (ARRAY['email', 'sms', 'webhook'])[1 + i % 3], 'NORMAL',
       CASE WHEN i % 33 = 0 THEN 'suppressed' ELSE 'sent' END, t, gen_random_uuid(), 1, 2, t, t + interval '1 s',
       CASE WHEN i % 33 = 0 THEN 'opted_out' END, CASE WHEN i % 33 <> 0 THEN t + interval '1 s' END
FROM generate_series(1, 100000) AS i, LATERAL (SELECT now() - i * interval '25 s' AS t) AS x;
INSERT INTO delivery_events (event_id, notification_id, delivery_id, channel, priority, status, attempt,
                             occurred_at, retry_tier)
SELECT gen_random_uuid(), md5('n' || i)::uuid, md5('d' || i)::uuid, 'email', 'NORMAL',
       CASE WHEN i % 10 = 0 THEN 'retry_scheduled' ELSE 'queued' END, 1, now() - i * interval '2.5 s',
       CASE WHEN i % 10 = 0 THEN '10s' END
FROM generate_series(1, 100000) AS i;
ANALYZE;
"""


@pytest.fixture
def log(database_url) -> str:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(_SEED.encode())  # several statements: sent as one simple query
    return database_url


def plan(url: str, sql: str, params=None) -> str:
    with psycopg.connect(url) as conn:
        return "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, params))


def test_stats_counts_suppressed_and_retries_from_their_own_indexes(log):
    now = dt.datetime.now(dt.timezone.utc)
    _, (suppressed, params), (retries, _) = stats_queries(now - dt.timedelta(hours=24), now, ["channel", "status"])
    assert "deliveries_suppressed_first_event_at_idx" in plan(log, suppressed, params)
    with psycopg.connect(log) as conn:
        partials = {name for (name,) in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits"
            " WHERE inhparent = 'delivery_events_retry_scheduled_idx'::regclass")}
    retries_plan = plan(log, retries, params)
    assert any(name in retries_plan for name in partials), retries_plan
    # Soon after midnight today's partition holds a few thousand events at most (a full day 34,560),
    # and reading it whole can be the right plan; no full day is read whole.
    scanned = re.findall(r"Seq Scan on (delivery_events\w*)", retries_plan)
    with psycopg.connect(log) as conn:
        sizes = {name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in scanned}
    assert all(rows < 10_000 for rows in sizes.values()), (sizes, retries_plan)


def test_one_delivery_and_pruning_do_not_read_whole_tables(log):
    story = plan(log, DELIVERY_STORY, {"delivery": "8277e091-1af1-f3b5-b9e8-1cba07da79d4", "final": ["sent"]})
    assert "notification_id_occurred_at_idx" in story, story  # (the empty days' partitions are scanned: 0 rows)
    prune = plan(log, OLD_DELIVERIES, {"edge": dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=28)})
    assert "deliveries_first_event_at_idx" in prune, prune
