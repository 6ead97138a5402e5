"""`tidings stats --since 24h [--by channel,status,provider,priority] [--json]`: delivery
statistics computed by Postgres (tracking.summary), as tables or one JSON object: how many were
sent (the provider took them) and delivered (a receipt confirmed it), and their rates."""
from __future__ import annotations

import argparse
import json

import psycopg
from rich.console import Console

from cli.tables import show
from consumer.moments import parse_moment
from consumer.settings import Settings
from tracking.summary import check_by, delivery_stats

COUNTS = ("total", "sent", "delivered", "failed", "dead_lettered", "suppressed", "expired", "pending")
RATES = ("sent_rate", "delivered_rate")
LATENCIES = ("latency_avg_s", "latency_p50_s", "latency_p95_s", "latency_p99_s")
RECEIPTS = ("undelivered", "bounced", "complained")


def stats_command(args: argparse.Namespace, settings: Settings) -> int:
    out, err = Console(), Console(stderr=True)
    if not settings.database_url:
        err.print("tidings stats: set TIDINGS_DATABASE_URL (the delivery log lives there)")
        return 2
    try:
        since = parse_moment(args.since)
        by = check_by((args.by or "").split(","))
    except ValueError as exc:
        err.print(f"tidings stats: {exc}")
        return 2
    with psycopg.connect(settings.database_url) as conn, psycopg.connect(settings.database_url) as beside:
        report = delivery_stats(conn, since, by, beside=beside)
    if args.json:
        print(json.dumps(report))
        return 0
    out.print(f"deliveries created from {report['since'][:19]} to {report['until'][:19]} UTC")
    show(out, "deliveries", (*by, *COUNTS, "sent %", "delivered %", "sms cost", "avg s", "p50 s", "p95 s", "p99 s"),
         [(*(str(entry[c]) if entry[c] is not None else "-" for c in by),
           *(str(entry[c]) for c in COUNTS), *("-" if entry[c] is None else f"{100 * entry[c]:.1f}" for c in RATES),
           f"{entry['sms_cost']:.4f}", *("-" if entry[c] is None else f"{entry[c]:.3f}" for c in LATENCIES))
          for entry in [*report["groups"], {**{c: "all" for c in by}, **report["totals"]}]])
    if receipts := [(status, str(report["totals"][status])) for status in RECEIPTS if report["totals"][status]]:
        show(out, "receipts after sent", ("status", "count"), receipts)
    _breakdown(out, "retries per tier", "tier", report, "retries_by_tier")
    _breakdown(out, "suppressed by reason", "reason", report, "suppressed_by_reason")
    return 0


def _breakdown(out: Console, title: str, name: str, report: dict, field: str) -> None:
    counts = report["totals"][field]
    if counts:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        show(out, title, (name, "count"), [(key, str(count)) for key, count in ranked])
