"""`tidings audit --since 24h`: the gateway's audit log (every mutating call: who, what, on what,
with which outcome, when, request id), oldest first."""
from __future__ import annotations

import argparse
import json
import sys

import psycopg
from rich.console import Console

from cli.tables import show
from consumer.json_values import jsonable
from consumer.moments import parse_moment
from consumer.settings import Settings
from tracking.audit_log import read


def audit_command(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.database_url:
        print("tidings audit: set TIDINGS_DATABASE_URL", file=sys.stderr)
        return 2
    try:
        since = parse_moment(args.since)
    except (ValueError, OverflowError):
        print(f"tidings audit: --since {args.since!r} is neither an ISO 8601 time nor an age such as 15m, 2h or 7d",
              file=sys.stderr)
        return 2
    with psycopg.connect(settings.database_url) as conn:
        if not conn.execute("SELECT to_regclass('audit_log') IS NOT NULL").fetchone()[0]:
            print("tidings audit: no audit log yet (run `tidings db migrate`)", file=sys.stderr)
            return 2
        rows = read(conn, since, args.principal, args.action)
    if args.json:
        for row in rows:
            print(json.dumps(jsonable(row)))
        return 0
    show(Console(), f"audit log since {since.isoformat(timespec='seconds')}: {len(rows)} calls",
         ("at", "principal", "action", "target", "outcome", "status", "request id", "detail"),
         [(row["at"].isoformat(timespec="seconds"), row["principal"] or "-", row["action"], row["target"] or "-",
           row["outcome"], str(row["status_code"]), row["request_id"], row["detail"] or "") for row in rows],
         free_text=("detail",))
    return 0
