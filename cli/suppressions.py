"""`tidings suppressions list | add | remove`: the per-tenant suppression list the router checks
every delivery's address against (router/suppressions.py). Receipts fill it (hard bounces,
complaints, unreachable numbers, repeated soft bounces); an operator adds and removes by hand."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from rich.console import Console

from cli.stores import connect
from cli.tables import show
from consumer.channel_specs import channel_names
from consumer.settings import Settings
from router.suppressions import REASONS, SuppressionInvalid, SuppressionList

DEFAULT_TENANT = "default"  # a notification's tenant when its producer names none


def suppressions_command(args: argparse.Namespace, settings: Settings) -> int:
    conn = connect(settings)
    if conn is None:
        return 2
    with conn:
        suppressions = SuppressionList.from_settings(conn, settings)
        if args.suppressions_verb == "list":
            rows, more = suppressions.list([args.tenant] if args.tenant else None, args.channel, args.address,
                                           limit=args.limit)
            print_rows(rows, more is not None, args.json)
            return 0
        if args.suppressions_verb == "remove":
            try:
                removed = suppressions.remove(args.tenant, args.channel, args.address)
            except SuppressionInvalid as exc:
                print(f"tidings: {exc}", file=sys.stderr)
                return 1
            if not removed:
                print(f"tidings: {args.channel} address {args.address!r} is not on tenant {args.tenant!r}'s "
                      "suppression list", file=sys.stderr)
                return 1
            print(f"{args.tenant}: removed {args.channel} address {args.address} from the suppression list")
            return 0
        try:
            row, created = suppressions.suppress(args.tenant, args.channel, args.address, args.reason, "cli",
                                                 detail=args.detail)
        except SuppressionInvalid as exc:
            print(f"tidings: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(row, indent=2, ensure_ascii=False))
    elif created:
        print(f"{row['tenant']}: suppressed {row['channel']} address {row['address']} ({row['reason']})")
    else:
        print(f"{row['tenant']}: {row['channel']} address {row['address']} was suppressed already "
              f"({row['reason']}, since {row['created_at']})")
    return 0


def print_rows(rows: list[dict], more: bool, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        print("no suppressed addresses")
        return
    title = f"{len(rows)} suppressed address(es), newest first" + (" (more: raise --limit)" if more else "")
    show(Console(), title, ("tenant", "channel", "address", "reason", "source", "since", "detail"),
         [(r["tenant"], r["channel"], r["address"], r["reason"], r["source"],
           datetime.fromisoformat(r["created_at"]).isoformat(timespec="seconds"), r["detail"] or "-") for r in rows],
         free_text=("detail",))


def add_parser(verbs) -> None:
    suppressions = verbs.add_parser(
        "suppressions", help="the per-tenant suppression list: addresses the router no longer sends to",
        description="Addresses a tenant no longer sends to: a delivery to one is recorded `suppressed` (reason "
                    "address_suppressed) and its provider is never asked. Receipts add hard bounces, complaints, "
                    "unreachable numbers and addresses that soft-bounced TIDINGS_SOFT_BOUNCE_LIMIT times (default "
                    "3/7d). Addresses are normalised by their channel (an SMS number to E.164, an email domain to "
                    "lower case).")
    actions = suppressions.add_subparsers(dest="suppressions_verb", required=True, metavar="ACTION")
    naming = argparse.ArgumentParser(add_help=False)
    naming.add_argument("channel", choices=channel_names(), metavar="CHANNEL",
                        help=f"the address's channel: {', '.join(channel_names())}")
    naming.add_argument("address", metavar="ADDRESS", help="as the channel takes it (+14155550100, ada@example.com)")
    naming.add_argument("--tenant", default=DEFAULT_TENANT,
                        help=f"whose list (default {DEFAULT_TENANT!r}, the tenant of notifications that name none)")
    list_ = actions.add_parser("list", help="suppressed addresses, newest first")
    list_.add_argument("--tenant", help="one tenant's (default: every tenant's)")
    list_.add_argument("--channel", choices=channel_names(), metavar="CHANNEL", help="one channel's")
    list_.add_argument("--address", help="one address (with --channel: as the channel normalises it)")
    list_.add_argument("--limit", type=int, default=100, metavar="N", help="at most N rows (default 100, at most 1000)")
    list_.add_argument("--json", action="store_true", help="print JSON")
    add = actions.add_parser("add", parents=[naming], help="suppress an address for a tenant")
    add.add_argument("--reason", choices=REASONS, default="manual", help="why (default manual)")
    add.add_argument("--detail", help="a note kept with it (a bounce's diagnostic, a ticket)")
    add.add_argument("--json", action="store_true", help="print the stored row as JSON")
    actions.add_parser("remove", parents=[naming], help="send to an address again (its soft bounces are forgotten)")
