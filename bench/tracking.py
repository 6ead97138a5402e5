"""The delivery log at volume: how fast the sink's batched write is into the day-partitioned log,
how long `tidings stats` and `tidings status` take over it, and how long pruning old days takes.

  python -m bench.tracking [--deliveries 100000] [--days 30]

Deliveries are spread evenly over the last `--days` days (one partition each), three events per
delivery (queued; a retry on one in five; then sent, or dead-lettered on one in twenty). Query
times are the median of five runs on a warm cache; the machine's load shows in them."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import time
import uuid
from decimal import Decimal

import psycopg

from bench.testbed import Testbed
from tracking.prune import prune
from tracking.store import DeliveryLog
from tracking.summary import delivery_stats
from tracking.timeline import notification_status, timeline

CHANNELS = ("email", "sms", "webhook", "slack")
PRIORITIES = ("URGENT", "HIGH", "NORMAL", "LOW")


def story(index: int, created: dt.datetime) -> list[dict]:
    """One delivery's events, ids unique per delivery."""
    delivery, notification = uuid.uuid4(), uuid.uuid4()
    channel = CHANNELS[index % 4]
    base = {"notification_id": str(notification), "delivery_id": str(delivery), "channel": channel,
            "priority": PRIORITIES[index % 4], "recipient_id": f"user-{index % 5000}", "source": "bench",
            "tenant": f"tenant-{index % 7}", "category": "general"}

    def event(status: str, seconds: float, attempt: int, **fields) -> dict:
        return {**base, "event_id": str(uuid.uuid4()), "status": status, "attempt": attempt,
                "occurred_at": created + dt.timedelta(seconds=seconds), **fields}

    events = [event("queued", 0, 0)]
    attempt = 1
    if index % 5 == 0:
        events.append(event("retry_scheduled", 0.5, 1, retry_tier="10s", status_code=503, error_class="http_503"))
        attempt = 2
    if index % 20 == 0:
        events.append(event("dead_lettered", 11, attempt, stage=f"channel-{channel}", reason="permanent"))
    else:
        cost = {"cost": Decimal("0.0079"), "cost_currency": "USD"} if channel == "sms" else {}
        events.append(event("sent", 0.2 + (index % 50) / 10, attempt, provider=channel, **cost))
    return events


async def load(url: str, deliveries: int, days: int, now: dt.datetime, batch: int = 2000) -> tuple[int, float]:
    span = dt.timedelta(days=days).total_seconds()
    events = [e for i in range(deliveries) for e in story(i, now - dt.timedelta(seconds=span * i / deliveries))]
    events.sort(key=lambda e: e["occurred_at"])  # as the deliveries topic would bring them, roughly
    async with await DeliveryLog.connect(url) as log:
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            await log.record(events[start:start + batch])
        return len(events), time.perf_counter() - started


def timed(fn, runs: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    with Testbed() as bed:
        url = bed.database()
        count, took = asyncio.run(load(url, args.deliveries, args.days, now))
        results = {"deliveries": args.deliveries, "events": count, "days": args.days,
                   "record_events_per_s": round(count / took)}
        with psycopg.connect(url) as conn:
            conn.execute("ANALYZE")
            one = conn.execute("SELECT notification_id FROM deliveries LIMIT 1").fetchone()[0]
            for name, fn in {
                "stats_24h_ms": lambda: delivery_stats(conn, dt.timedelta(hours=24)),
                "stats_24h_by_channel_status_ms": lambda: delivery_stats(conn, dt.timedelta(hours=24),
                                                                         ["channel", "status"]),
                f"stats_{args.days}d_by_channel_provider_priority_ms": lambda: delivery_stats(
                    conn, dt.timedelta(days=args.days), ["channel", "provider", "priority"]),
                "timeline_ms": lambda: timeline(conn, one),
                "notification_status_ms": lambda: notification_status(conn, one),
            }.items():
                results[name], _ = timed(fn)
                results[name] = round(results[name], 1)
            check = delivery_stats(conn, dt.timedelta(days=args.days + 1))["totals"]
            assert check["total"] == args.deliveries, check  # the numbers above were over the whole load
            keep = max(1, args.days // 3)
            prune_ms, pruned = timed(lambda: prune(conn, now - dt.timedelta(days=keep)), runs=1)
            results.update({"prune_ms": round(prune_ms, 1), "prune_partitions": len(pruned["partitions_dropped"]),
                            "prune_events": pruned["events_removed"], "prune_deliveries": pruned["deliveries_removed"]})
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
