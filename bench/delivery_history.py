"""A delivery log with history in it, for the benchmarks that ask how the sink and the read side
hold up at size (bench.sink_scale): N delivery events over the last D days, written the way the
sink writes them (its staging table and its one recording statement, tracking.store), one day of
deliveries per transaction, with the secondary indexes dropped while filling and built after.

  python -m bench.delivery_history DATABASE_URL [--rows 20000000] [--days 30]   # a log to keep

The mix, per delivery: a channel (email 35%, sms 15%, push 20%, webhook 15%, inapp 8%, slack 4%,
teams, telegram, discord 1% each) and its provider, a priority (NORMAL 70%, HIGH 15%, LOW 10%, URGENT
5%), `queued`, a retry on one in ten, then `sent` (92%), `failed` (2%) or `dead_lettered` after two
retries (3%), or only `suppressed` (3%); a receipt after most email and sms sends (`delivered`, or
`bounced` / `undelivered`). About 2.55 events per delivery, 4 deliveries per 3 notifications.
Its ids are random UUIDs, as in a log recorded before Tidings made its ids time-ordered
(consumer/events.py): what a log that is upgraded holds."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from collections.abc import Callable

import psycopg

from consumer.statuses import FINAL_STATUSES
from tracking.migrate import migrate
from tracking.store import CREATE_STAGING, EVENT_COLUMNS, RECORD_STAGED

EVENTS_PER_DELIVERY = 2.55  # the mix's mean, within 0.5%: how many deliveries make the rows asked for

# The tables the sink writes. Their unique indexes stay (the recording statement's ON CONFLICT needs
# them); the others are dropped while filling and built again after, as the migrations define them.
TABLES = ("delivery_events", "delivery_event_ids", "deliveries")

_SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique
ORDER BY 1
"""

# Deliveries lo..hi, delivery i created at `now` - (60 s + span * (count - i) / count): the newest a
# minute old, so every event of the history lies before the run that measures on it.
_STAGE = f"""
WITH drawn AS (
    SELECT i, gen_random_uuid() AS delivery_id,
           md5('notification-' || (i * 3 / 4))::uuid AS notification_id,
           %(now)s - make_interval(secs => 60 + %(span_s)s * (%(count)s - i) / %(count)s::float8) AS created_at,
           random() AS rc, random() AS rp, random() AS rq, random() AS ro, random() AS rr, random() AS rx,
           random() AS rl
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
), channeled AS (
    SELECT *, CASE WHEN rc < 0.35 THEN 'email' WHEN rc < 0.50 THEN 'sms' WHEN rc < 0.70 THEN 'push'
                   WHEN rc < 0.85 THEN 'webhook' WHEN rc < 0.93 THEN 'inapp' WHEN rc < 0.97 THEN 'slack'
                   WHEN rc < 0.98 THEN 'teams' WHEN rc < 0.99 THEN 'telegram' ELSE 'discord' END AS channel,
              CASE WHEN ro < 0.03 THEN 'suppressed' WHEN ro < 0.05 THEN 'failed'
                   WHEN ro < 0.08 THEN 'dead_lettered' ELSE 'sent' END AS outcome
    FROM drawn
), story AS MATERIALIZED (  -- computed once per delivery, not at each use below
    SELECT *, 10 * retries + 0.2 + 3 * rl AS final_s
    FROM (SELECT *,
           CASE channel WHEN 'email' THEN 'smtp' WHEN 'sms' THEN (CASE WHEN rp < 0.7 THEN 'twilio' ELSE 'sns' END)
                        WHEN 'push' THEN (CASE WHEN rp < 0.6 THEN 'fcm' ELSE 'apns' END) WHEN 'webhook' THEN 'http'
                        WHEN 'inapp' THEN 'inbox' WHEN 'slack' THEN 'slack-api' ELSE channel END AS provider,
           CASE WHEN rq < 0.70 THEN 'NORMAL' WHEN rq < 0.85 THEN 'HIGH' WHEN rq < 0.95 THEN 'LOW'
                ELSE 'URGENT' END AS priority,
           CASE WHEN outcome = 'dead_lettered' THEN 2 WHEN outcome <> 'suppressed' AND rr < 0.1 THEN 1
                ELSE 0 END AS retries,
           CASE WHEN outcome = 'sent' AND channel IN ('email', 'sms') AND rx < 0.92 THEN
                (CASE WHEN rx < 0.88 THEN 'delivered' WHEN channel = 'email' THEN 'bounced' ELSE 'undelivered' END)
                END AS receipt,
           CASE WHEN channel IN ('email', 'sms', 'push') THEN 'pm-' || left(md5(delivery_id::text), 24) END AS message_id
    FROM channeled) AS outcomes
)
INSERT INTO delivery_events_staging ({", ".join(EVENT_COLUMNS)})
SELECT gen_random_uuid(), s.notification_id, s.delivery_id, s.channel, s.priority, e.provider, e.status,
       e.attempt, e.status_code, e.error_class, e.error_message, e.provider_message_id, e.cost, e.cost_currency,
       'user-' || mod(s.i * 7919, 1000000), 'api', 'tenant-' || mod(s.i, 10),
       (ARRAY['account', 'billing', 'marketing', 'alerts'])[1 + mod(s.i, 4)],
       s.created_at + make_interval(secs => e.after_s), e.retry_tier,
       s.created_at + make_interval(secs => e.due_s), e.stage, e.reason, 0, e.latency_ms
FROM story AS s CROSS JOIN LATERAL (VALUES
    (s.outcome <> 'suppressed', 'queued', 0, NULL, NULL::int, NULL, NULL, NULL, NULL::numeric, NULL, 0.0,
     NULL, NULL::float8, NULL, NULL, NULL::int),
    (s.retries >= 1, 'retry_scheduled', 1, s.provider, 503, 'http_503', 'Service Unavailable', NULL, NULL, NULL,
     0.5, '10s', 10.5, NULL, NULL, NULL),
    (s.retries >= 2, 'retry_scheduled', 2, s.provider, 503, 'http_503', 'Service Unavailable', NULL, NULL, NULL,
     10.5, '10s', 20.5, NULL, NULL, NULL),
    (true, s.outcome, CASE WHEN s.outcome = 'suppressed' THEN 0 ELSE s.retries + 1 END,
     CASE WHEN s.outcome <> 'suppressed' THEN s.provider END,
     CASE s.outcome WHEN 'sent' THEN 200 WHEN 'failed' THEN 400 WHEN 'dead_lettered' THEN 503 END,
     CASE s.outcome WHEN 'failed' THEN 'http_400' WHEN 'dead_lettered' THEN 'http_503' END,
     CASE s.outcome WHEN 'failed' THEN 'invalid recipient address' WHEN 'dead_lettered' THEN 'Service Unavailable' END,
     CASE WHEN s.outcome = 'sent' THEN s.message_id END,
     CASE WHEN s.outcome = 'sent' AND s.channel = 'sms' THEN 0.0079 END,
     CASE WHEN s.outcome = 'sent' AND s.channel = 'sms' THEN 'USD' END, s.final_s, NULL, NULL,
     CASE WHEN s.outcome = 'dead_lettered' THEN 'channel' END,
     CASE s.outcome WHEN 'dead_lettered' THEN 'retries_exhausted' WHEN 'suppressed' THEN 'opted_out' END,
     CASE WHEN s.outcome = 'sent' THEN (1000 * s.final_s)::int END),
    (s.receipt IS NOT NULL, s.receipt, s.retries + 1, s.provider, NULL, 
     CASE WHEN s.receipt <> 'delivered' THEN 'hard_bounce' END, NULL, s.message_id, NULL, NULL, s.final_s + 5,
     NULL, NULL, NULL, NULL, NULL)
) AS e (keep, status, attempt, provider, status_code, error_class, error_message, provider_message_id, cost,
        cost_currency, after_s, retry_tier, due_s, stage, reason, latency_ms)
WHERE e.keep
"""


def fill(database_url: str, rows: int, days: int = 30, now: dt.datetime | None = None,
         progress: Callable[[str], None] = print) -> dict:
    """About `rows` delivery events over the `days` before `now` into a migrated, empty log, then
    VACUUM ANALYZE and a checkpoint. Returns what was written and how long each step took."""
    now = now or dt.datetime.now(dt.timezone.utc)
    count = max(1, round(rows / EVENTS_PER_DELIVERY))
    chunk = math.ceil(count / days)  # about a day of deliveries per transaction
    timings = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A bulk load: no commit waits for its WAL flush, big sorts for the index builds and the fold.
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET temp_buffers = '512MB'")  # the staging table holds a day of events
        conn.execute("SET jit = off")
        indexes = conn.execute(_SECONDARY_INDEXES, [list(TABLES)]).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        first = (now - dt.timedelta(days=days, minutes=1)).date()
        conn.execute("SELECT tidings_ensure_event_partitions(%s::date[])",
                     [[first + dt.timedelta(days=d) for d in range((now.date() - first).days + 1)]])
        started = time.perf_counter()
        for lo in range(1, count + 1, chunk):
            with conn.transaction():
                conn.execute(CREATE_STAGING)
                conn.execute(_STAGE, {"now": now, "span_s": days * 86400.0, "count": count, "lo": lo,
                                      "hi": min(lo + chunk - 1, count)})
                conn.execute(RECORD_STAGED, {"final": sorted(FINAL_STATUSES)})
            progress(f"  {min(lo + chunk - 1, count):,} of {count:,} deliveries "
                     f"({time.perf_counter() - started:.0f} s)")
        timings["record_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for name, definition in indexes:
            # A partitioned table's index reads back as ON ONLY (the parent alone): built on every partition.
            conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
        timings["index_s"] = time.perf_counter() - started
        started = time.perf_counter()
        # The sink inserts a delivery when its first event comes, so its rows lie in creation order;
        # a day of them per transaction lies in delivery_id order (the fold's), which made reading a
        # day by first_event_at touch a page per row (3x slower at 20M). Put them in creation order.
        conn.execute("CLUSTER deliveries USING deliveries_first_event_at_idx")
        timings["cluster_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    return {**described(database_url), "history_days": days,
            **{f"fill_{name}": round(seconds, 1) for name, seconds in timings.items()}}


def described(database_url: str) -> dict:
    """How much history the log holds (from the planner's statistics: counting 20M rows takes a while)."""
    with psycopg.connect(database_url) as conn:
        events, deliveries = (conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                                           [table]).fetchone()[0] for table in ("delivery_event_ids", "deliveries"))
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return {"history_events": events, "history_deliveries": deliveries, "history_database_gb": round(size / 1e9, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url", help="an empty database (migrated here), kept afterwards")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    migrate(args.database_url)
    print(json.dumps(fill(args.database_url, args.rows, args.days), indent=2))


if __name__ == "__main__":
    main()
