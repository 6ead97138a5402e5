"""`tidings endpoints list` and `tidings endpoints enable URL`: webhook endpoints disabled by a
410 Gone answer (channels/webhook_endpoints.py)."""
from __future__ import annotations

import argparse
import json
import sys

from channels.webhook_endpoints import DELETE, SELECT
from consumer.settings import Settings


def add_parser(verbs) -> None:
    endpoints = verbs.add_parser("endpoints", help="webhook endpoints disabled by 410 Gone")
    actions = endpoints.add_subparsers(dest="endpoints_verb", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="disabled endpoints with when and why")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    enable = actions.add_parser("enable", help="deliver to URL again (workers notice within seconds)")
    enable.add_argument("url")


def endpoints_command(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.database_url:
        print("tidings endpoints: set TIDINGS_DATABASE_URL", file=sys.stderr)
        return 2
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.endpoints_verb == "enable":
            if conn.execute(DELETE, [args.url]).rowcount == 0:
                print(f"tidings endpoints enable: {args.url} is not disabled", file=sys.stderr)
                return 1
            print(f"enabled {args.url}; workers deliver to it again within TIDINGS_WEBHOOK_ENDPOINTS_REFRESH_S")
            return 0
        rows = conn.execute(SELECT).fetchall()
    for url, disabled_at, status_code, reason, delivery_id in rows:
        if args.json:
            print(json.dumps({"url": url, "disabled_at": disabled_at.isoformat(), "status_code": status_code,
                              "reason": reason, "delivery_id": str(delivery_id) if delivery_id else None}))
        else:
            print(f"{disabled_at:%Y-%m-%d %H:%M:%S}  {status_code}  {url}  {reason[:80]}")
    if not rows and not args.json:
        print("no disabled endpoints")
    return 0
