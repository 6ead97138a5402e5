"""`tidings prefs set RECIPIENT [--channel C] [--category K] --off|--on` and `tidings prefs show
RECIPIENT`: opt-outs the router honours (categories in TIDINGS_CRITICAL_CATEGORIES bypass them)."""
from __future__ import annotations

import argparse
import json
import sys

from cli.stores import connect
from consumer.settings import Settings
from consumer.channel_specs import channel_names
from router.preferences import PreferenceInvalid, Preferences


def prefs_command(args: argparse.Namespace, settings: Settings) -> int:
    conn = connect(settings)
    if conn is None:
        return 2
    with conn:
        preferences = Preferences(conn)
        if args.prefs_verb == "set":
            try:
                row = preferences.set(args.recipient, channel=args.channel, category=args.category,
                                      enabled=args.on)
            except PreferenceInvalid as exc:
                print(f"tidings: {exc}", file=sys.stderr)
                return 1
            state = "on" if row["enabled"] else "off"
            print(f"{row['recipient_id']}: channel {row['channel']} x category {row['category']} is {state}")
            return 0
        rows = preferences.show(args.recipient)
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print(f"{args.recipient}: no preferences (everything on)")
        for row in rows if not args.json else []:
            state = "on" if row["enabled"] else "off"
            print(f"{row['channel']:<8} {row['category']:<20} {state:<4} {row['source']:<18} {row['updated_at']}")
        return 0


def add_parser(verbs) -> None:
    prefs = verbs.add_parser("prefs", help="per-recipient opt-outs by channel, category or both")
    actions = prefs.add_subparsers(dest="prefs_verb", required=True, metavar="ACTION")
    set_ = actions.add_parser("set", help="turn a channel, a category or a channel x category off or on")
    set_.add_argument("recipient")
    set_.add_argument("--channel", choices=channel_names(), help="one channel (default: every channel)")
    set_.add_argument("--category", help="one category (default: every category)")
    state = set_.add_mutually_exclusive_group(required=True)
    state.add_argument("--off", dest="on", action="store_false", help="opt out")
    state.add_argument("--on", dest="on", action="store_true", help="opt back in")
    show = actions.add_parser("show", help="a recipient's preferences")
    show.add_argument("recipient")
    show.add_argument("--json", action="store_true", help="print JSON")
