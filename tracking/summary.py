"""Delivery statistics over a time window, computed by Postgres (counts, percentiles, sums):
what `tidings stats` prints and the HTTP gateway serves. Plain functions over a psycopg connection.

The window selects deliveries by when they were created (their first event, the router's
`queued`); their current status says where they are now."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence

import psycopg
from psycopg import sql

from consumer.channel_specs import registry
from tracking.rows import Query, fetch_all, fetch_all_async
from consumer.statuses import DELIVERED_STATUSES, FINAL_STATUSES, SENT_STATUSES

GROUPABLE = ("channel", "status", "provider", "priority", "tenant", "category", "source")

# `tenants` NULL: every tenant; else only deliveries of those tenants (a gateway token's own).
_WINDOW = ("d.first_event_at >= %(since)s AND d.first_event_at < %(until)s"
           " AND (%(tenants)s::text[] IS NULL OR d.tenant = ANY(%(tenants)s::text[]))")

# `sent`: the provider took it (sent, and any receipt after); `delivered`: a receipt confirmed it,
# or `sent` on a channel whose provider's answer is the receipt (a webhook's 2xx: ChannelSpec.receipts).
# Latency is created-to-sent: from the delivery's first event to its (latest) `sent`, whatever
# receipt came after (deliveries.sent_at, migration 018). date_part gives float8 at once; extract
# gives numeric, and its cast cost 60-90 ms of about 0.75 s over 270,000 deliveries.
_DELIVERIES = """
SELECT {columns},
       count(*) AS total,
       count(*) FILTER (WHERE d.status = ANY(%(sent)s)) AS sent,
       count(*) FILTER (WHERE d.status = ANY(%(delivered)s)
                        OR (d.status = 'sent' AND NOT d.channel = ANY(%(receipt_channels)s))) AS delivered,
       count(*) FILTER (WHERE d.status = 'undelivered') AS undelivered,
       count(*) FILTER (WHERE d.status = 'bounced') AS bounced,
       count(*) FILTER (WHERE d.status = 'complained') AS complained,
       count(*) FILTER (WHERE d.status IN ('failed', 'dead_lettered')) AS failed,
       count(*) FILTER (WHERE d.status = 'dead_lettered') AS dead_lettered,
       count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed,
       count(*) FILTER (WHERE d.status = 'expired') AS expired,
       count(*) FILTER (WHERE NOT d.status = ANY(%(final)s)) AS pending,
       coalesce(sum(d.cost) FILTER (WHERE d.channel = 'sms'), 0) AS sms_cost,
       avg(d.latency_s) AS latency_avg_s,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY d.latency_s) AS latency_p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d.latency_s) AS latency_p95_s,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY d.latency_s) AS latency_p99_s
FROM (SELECT *, date_part('epoch', sent_at - first_event_at) AS latency_s FROM deliveries) AS d
WHERE {window}
{group_by}
"""

_SUPPRESSED = """
SELECT {columns}, d.why AS reason, count(*) AS count
FROM (SELECT *, coalesce(reason, error_class, 'unknown') AS why FROM deliveries) AS d
WHERE d.status = 'suppressed' AND {window}
{group_by}
"""

# Events of deliveries created in the window happen after its start: the occurred_at bound lets
# Postgres skip older day partitions.
_RETRIES = """
SELECT {columns}, d.tier, count(*) AS count
FROM (SELECT d.*, coalesce(e.retry_tier, 'unknown') AS tier
      FROM delivery_events AS e JOIN deliveries AS d USING (delivery_id)
      WHERE e.status = 'retry_scheduled' AND e.occurred_at >= %(since)s) AS d
WHERE {window}
{group_by}
"""


# For the statistics' transaction only. Over a big log the plan's cost passes jit_above_cost and
# compiling it costs more than it wins: at 20M events, 3.5 s of JIT in 9.7 s for --since 7d. And
# room for the sorts in memory: at the default 4MB the grouping's sort and the total's percentiles
# went to disk (270,000 deliveries in the window: 0.83-1.0 s at 4MB, 0.59-0.66 s at 64MB).
STATS_SETTINGS = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"


def check_by(by: Iterable[str]) -> list[str]:
    """The grouping columns, validated; ValueError naming the bad one and the allowed ones."""
    columns = [c.strip() for c in by if c.strip()]
    for column in columns:
        if column not in GROUPABLE:
            raise ValueError(f"cannot group by {column!r} (choose from {', '.join(GROUPABLE)})")
    if len(set(columns)) != len(columns):
        raise ValueError(f"a column is repeated in {','.join(columns)!r}")
    return columns


def _query(template: str, by: Sequence[str], extra: str | None, params: dict) -> Query:
    """The template with the grouping filled in: the ungrouped total row, plus one row per group
    when `by` names columns (is_total tells them apart), each split by `extra` if given."""
    inner = [f"d.{extra}"] if extra else []
    if by:
        keys = ", ".join(f"d.{c}" for c in by)
        columns = f"{keys}, GROUPING({keys}) <> 0 AS is_total"
        group_by = f"GROUP BY GROUPING SETS (({', '.join(inner)}), ({', '.join([keys, *inner])}))"
    else:
        columns = "true AS is_total"
        group_by = f"GROUP BY {', '.join(inner)}" if inner else ""
    return template.format(columns=columns, window=_WINDOW, group_by=group_by), params


def stats_queries(since: dt.datetime, until: dt.datetime, by: Sequence[str],
                  tenants: Iterable[str] | None = None) -> list[Query]:
    """The queries of delivery_stats (deliveries, suppressed by reason, retries by tier), as run."""
    params = {"since": since, "until": until, "final": sorted(FINAL_STATUSES), "sent": list(SENT_STATUSES),
              "delivered": list(DELIVERED_STATUSES),
              "receipt_channels": sorted(name for name, spec in registry().items() if spec.receipts),
              "tenants": None if tenants is None else sorted(tenants)}
    return [_query(_DELIVERIES, by, None, params), _query(_SUPPRESSED, by, "why", params),
            _query(_RETRIES, by, "tier", params)]


def _window(since: dt.datetime | dt.timedelta, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    until = until or dt.datetime.now(dt.timezone.utc)
    return (until - since if isinstance(since, dt.timedelta) else since), until


def _combine(since, until, by: list[str], results: list[list[dict]]) -> dict:
    deliveries, suppressed, retries = results
    groups: dict[tuple, dict] = {}

    def group(row: dict) -> dict:
        key = None if row["is_total"] else tuple(row[c] for c in by)
        if key not in groups:
            groups[key] = {**({} if key is None else dict(zip(by, key))), **_empty()}
        return groups[key]

    for row in deliveries:
        entry = group(row)
        entry.update({k: v for k, v in row.items() if k in entry and k not in by})
        for k in ("latency_avg_s", "latency_p50_s", "latency_p95_s", "latency_p99_s"):
            entry[k] = None if entry[k] is None else round(entry[k], 3)
        entry.update(rates(entry))
    for row in suppressed:
        group(row)["suppressed_by_reason"][row["reason"]] = row["count"]
    for row in retries:
        group(row)["retries_by_tier"][row["tier"]] = row["count"]
    totals = groups.pop(None, _empty())
    return {"since": since.isoformat(), "until": until.isoformat(), "by": by, "totals": totals,
            "groups": list(groups.values())}


def rates(counts: dict) -> dict:
    """sent_rate and delivered_rate: shares of all the deliveries (None when there are none)."""
    total = counts["total"]
    return {f"{name}_rate": round(counts[name] / total, 4) if total else None for name in ("sent", "delivered")}


def _empty() -> dict:
    return {"total": 0, "sent": 0, "delivered": 0, "undelivered": 0, "bounced": 0, "complained": 0, "failed": 0,
            "dead_lettered": 0, "suppressed": 0, "expired": 0, "pending": 0, "sent_rate": None, "delivered_rate": None,
            "suppressed_by_reason": {}, "retries_by_tier": {}, "sms_cost": 0.0,
            "latency_avg_s": None, "latency_p50_s": None, "latency_p95_s": None, "latency_p99_s": None}


def delivery_stats(conn: psycopg.Connection, since: dt.datetime | dt.timedelta, by: Iterable[str] = (),
                   until: dt.datetime | None = None, tenants: Iterable[str] | None = None,
                   beside: psycopg.Connection | None = None) -> dict:
    """Statistics of the deliveries created in [since, until): `totals`, and one entry per
    combination of the `by` columns in `groups`. `since` is a moment or an age (timedelta).
    With `beside`, a second connection, the suppressed and retry counts run on it while `conn`
    computes the deliveries' (the longest: 0.56 s of 0.75 at 20M events), both in one snapshot."""
    by = check_by(by)
    start, end = _window(since, until)
    queries = stats_queries(start, end, by, tenants)
    with conn.transaction():
        if beside is None:
            conn.execute(STATS_SETTINGS)
            results = fetch_all(conn, queries)
        else:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # the snapshot lasts the transaction
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            conn.execute(STATS_SETTINGS)
            with ThreadPoolExecutor(1, thread_name_prefix="stats") as pool:
                rest = pool.submit(_in_snapshot, beside, snapshot, queries[1:])
                results = fetch_all(conn, queries[:1]) + rest.result()
    return _combine(start, end, by, results)


def _in_snapshot(conn: psycopg.Connection, snapshot: str, queries: list[Query]) -> list[list[dict]]:
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        conn.execute(STATS_SETTINGS)
        return fetch_all(conn, queries)


async def delivery_stats_async(conn: psycopg.AsyncConnection, since: dt.datetime | dt.timedelta,
                               by: Iterable[str] = (), until: dt.datetime | None = None,
                               tenants: Iterable[str] | None = None) -> dict:
    """As delivery_stats; `tenants` (None: all) limits it to the deliveries of those tenants."""
    by = check_by(by)
    start, end = _window(since, until)
    async with conn.transaction():
        await conn.execute(STATS_SETTINGS)
        results = await fetch_all_async(conn, stats_queries(start, end, by, tenants))
    return _combine(start, end, by, results)
