"""`tidings recipients upsert FILE | show ID`: the recipient directory the router fills missing
addresses, locale and timezone from. An upsert writes every line or, if any is invalid, none."""
from __future__ import annotations

import argparse
import json
import sys

from cli.stores import connect
from consumer.settings import Settings
from router.recipients import RecipientDirectory, RecipientInvalid, recipient_from_json


def read_records(path: str) -> tuple[list[dict], list[str]]:
    """(records, errors as "line N: reason") from a JSON-lines file or - for standard input."""
    source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    records, errors = [], []
    with source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                records.append(recipient_from_json(json.loads(line)))
            except json.JSONDecodeError as exc:
                errors.append(f"line {number}: not valid JSON: {exc.msg} at column {exc.colno}")
            except RecipientInvalid as exc:
                errors.append(f"line {number}: {exc}")
    return records, errors


def recipients_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.recipients_verb == "upsert":
        try:
            records, errors = read_records(args.file)
        except OSError as exc:
            print(f"tidings: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        if errors:
            print("\n".join(errors), file=sys.stderr)
            print(f"tidings: {len(errors)} invalid line(s); nothing was stored", file=sys.stderr)
            return 1
    conn = connect(settings)
    if conn is None:
        return 2
    with conn:
        directory = RecipientDirectory(conn)
        if args.recipients_verb == "upsert":
            print(f"upserted {directory.upsert(records)} recipient(s)")
            return 0
        if args.recipients_verb == "delete":
            if not directory.delete(args.id):
                print(f"tidings: no recipient {args.id!r} in the directory", file=sys.stderr)
                return 1
            print(f"deleted {args.id} (their preferences are kept)")
            return 0
        found = directory.show(args.id)
        if found is None:
            print(f"tidings: no recipient {args.id!r} in the directory", file=sys.stderr)
            return 1
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0


def add_parser(verbs) -> None:
    recipients = verbs.add_parser("recipients", help="the recipient directory (addresses, locale, timezone)")
    actions = recipients.add_subparsers(dest="recipients_verb", required=True, metavar="ACTION")
    upsert = actions.add_parser("upsert", help="insert or update recipients from JSON lines (a file or -)")
    upsert.add_argument("file", help='JSON lines: {"id", "addresses": {"<channel>": "<address>", ...}, "locale", "timezone"}'
                                        ' (email, phone, slack, webhook_url are still read)')
    show = actions.add_parser("show", help="one recipient as JSON")
    show.add_argument("id")
    delete = actions.add_parser("delete", help="remove a recipient's addresses (opt-outs are kept)")
    delete.add_argument("id")
