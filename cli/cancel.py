"""`tidings cancel NOTIFICATION_ID`: stop a notification's scheduled or deferred deliveries that
have not gone out (tracking/cancellations.py). They record `cancelled` when the channel worker next
takes them: at their due time, or sooner at their next leg on the retry tiers."""
from __future__ import annotations

import argparse
import json
import sys

from cli.stores import connect
from consumer.settings import Settings
from tracking.cancellations import NothingToCancel, cancel

# Exit codes: 0 cancelled (or cancelled already), 1 nothing recorded for the id, 3 too late.
TOO_LATE = 3


def cancel_command(args: argparse.Namespace, settings: Settings) -> int:
    conn = connect(settings)
    if conn is None:
        return 2
    with conn:
        try:
            done = cancel(conn, args.notification_id, "cli")
        except ValueError as exc:  # not a UUID
            print(f"tidings cancel: {exc}", file=sys.stderr)
            return 2
        except LookupError as exc:
            print(f"tidings cancel: {exc}", file=sys.stderr)
            return 1
        except NothingToCancel as exc:
            print(f"tidings cancel: {exc}", file=sys.stderr)
            return TOO_LATE
    if args.json:
        print(json.dumps(done.as_dict(), indent=2))
        return 0
    if done.already:
        print(f"notification {done.notification_id} was cancelled already ({done.cancelled_by}, {done.cancelled_at})")
    for delivery in done.stopping:
        print(f"  {delivery['channel']:<10} {delivery['status']:<10} due {delivery['due_at']}: will not be sent")
    for delivery in done.going:
        print(f"  {delivery['channel']:<10} {delivery['status']:<10} not held, or gone out already: not cancelled")
    if not done.already:
        print(f"notification {done.notification_id}: cancelled at {done.cancelled_at}")
    return 0


def add_parser(verbs) -> None:
    cancel_ = verbs.add_parser("cancel", help="cancel a notification's scheduled or deferred deliveries before "
                                              "they go out (from Postgres)")
    cancel_.add_argument("notification_id")
    cancel_.add_argument("--json", action="store_true", help="print one JSON object")
