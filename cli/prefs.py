"""`tidings prefs set RECIPIENT [--channel C] [--category K] --off|--on`, `tidings prefs quiet
RECIPIENT [--channel C] [WINDOW ...|--clear|--never]` and `tidings prefs show RECIPIENT`: opt-outs
and quiet hours the router honours (URGENT and TIDINGS_CRITICAL_CATEGORIES bypass them)."""
from __future__ import annotations

import argparse
import json
import sys

from cli.stores import connect
from consumer.settings import Settings
from consumer.channel_specs import channel_names
from router.preferences import PreferenceInvalid, Preferences
from router.recipients import RecipientDirectory


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
        if args.prefs_verb == "quiet":
            return _quiet(args, preferences, conn)
        rows = preferences.show(args.recipient)
        quiet = [] if args.json else preferences.quiet_hours(args.recipient)
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows and not quiet:
            print(f"{args.recipient}: no preferences (everything on)")
        for row in rows if not args.json else []:
            state = "on" if row["enabled"] else "off"
            print(f"{row['channel']:<8} {row['category']:<20} {state:<4} {row['source']:<18} {row['updated_at']}")
        if quiet:
            _print_quiet(args.recipient, quiet, conn)
        return 0


def _quiet(args: argparse.Namespace, preferences: Preferences, conn) -> int:
    """Set (windows), forget (--clear), set to never (--never) or, with none of those, show."""
    if args.windows or args.clear or args.never:
        if args.windows and (args.clear or args.never):
            print("tidings: give windows, --clear or --never, not several", file=sys.stderr)
            return 2
        try:
            row = preferences.set_quiet_hours(args.recipient, None if args.clear else args.windows,
                                              channel=args.channel)
        except PreferenceInvalid as exc:
            print(f"tidings: {exc}", file=sys.stderr)
            return 1
        channel = args.channel or "*"
        if row is None:
            print(f"{args.recipient}: channel {channel} has no quiet hours of its own")
        else:
            print(f"{args.recipient}: channel {channel} is quiet {', '.join(row['windows']) or 'never'}")
        return 0
    rows = preferences.quiet_hours(args.recipient)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"{args.recipient}: no quiet hours")
    else:
        _print_quiet(args.recipient, rows, conn)
    return 0


def _print_quiet(recipient_id: str, rows: list[dict], conn) -> None:
    stored = RecipientDirectory(conn).show(recipient_id) or {}
    zone = stored.get("timezone") or "UTC (no time zone in the directory; an event's recipient.timezone wins)"
    print(f"quiet hours, in {zone}:")
    for row in rows:
        print(f"  {row['channel']:<8} {', '.join(row['windows']) or 'never':<40} {row['source']:<18} "
              f"{row['updated_at']}")


def add_parser(verbs) -> None:
    prefs = verbs.add_parser("prefs", help="per-recipient opt-outs by channel, category or both, and quiet hours")
    actions = prefs.add_subparsers(dest="prefs_verb", required=True, metavar="ACTION")
    set_ = actions.add_parser("set", help="turn a channel, a category or a channel x category off or on")
    set_.add_argument("recipient")
    set_.add_argument("--channel", choices=channel_names(), help="one channel (default: every channel)")
    set_.add_argument("--category", help="one category (default: every category)")
    state = set_.add_mutually_exclusive_group(required=True)
    state.add_argument("--off", dest="on", action="store_false", help="opt out")
    state.add_argument("--on", dest="on", action="store_true", help="opt back in")
    quiet = actions.add_parser("quiet", help="a recipient's quiet hours, in their time zone: deliveries that "
                                             "would start in one wait until it ends (URGENT and critical "
                                             "categories do not)")
    quiet.add_argument("recipient")
    quiet.add_argument("windows", nargs="*", metavar="WINDOW",
                       help="DAYS [HH:MM-HH:MM], e.g. 'mon-fri 22:00-07:00' 'sat-sun' (replaces the channel's "
                            "windows; none given: show them)")
    quiet.add_argument("--channel", choices=channel_names(), help="one channel (default: every channel without "
                                                                  "windows of its own)")
    quiet.add_argument("--clear", action="store_true", help="forget the channel's windows")
    quiet.add_argument("--never", action="store_true", help="the channel is never quiet, whatever every channel is")
    quiet.add_argument("--json", action="store_true", help="print JSON (when showing)")
    show = actions.add_parser("show", help="a recipient's preferences and quiet hours")
    show.add_argument("recipient")
    show.add_argument("--json", action="store_true", help="print JSON")
