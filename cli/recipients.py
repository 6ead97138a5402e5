"""`tidings recipients upsert FILE | show ID | delete ID | devices add|list|remove`: the recipient
directory the router fills missing addresses, locale and timezone from, and the device directory it
fans push notifications out from. An upsert writes every line or, if any is invalid, none."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from rich.console import Console

from channels.push.device import device_address, parse_device
from cli.stores import connect
from cli.tables import show
from consumer.channel_specs import AddressInvalid
from consumer.settings import Settings
from router.devices import DeviceDirectory, DeviceInvalid
from router.recipients import RecipientDirectory, RecipientInvalid, recipient_from_json

PUSH = "push"  # the channel whose addresses --platform, --app and --token compose


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
    if args.recipients_verb == "devices":
        return devices_command(args, settings)
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


class DeviceUsage(ValueError):
    """The command line names no device, or names one twice."""


def named_address(args: argparse.Namespace) -> str:
    """ADDRESS, or the push address --platform, --app and --token compose (AddressInvalid saying
    why they do not)."""
    flags = (args.platform, args.app, args.token)
    if args.address is not None and any(flag is not None for flag in flags):
        raise DeviceUsage("give ADDRESS or --platform, --app and --token, not both")
    if args.address is not None:
        return args.address
    if None in flags:
        raise DeviceUsage("give ADDRESS, or all three of --platform, --app and --token")
    if args.channel != PUSH:
        raise DeviceUsage(f"--platform, --app and --token compose a {PUSH} address; for {args.channel!r} give ADDRESS")
    return device_address(*flags)


def devices_command(args: argparse.Namespace, settings: Settings) -> int:
    address = None
    if args.devices_verb != "list":
        try:
            address = named_address(args)
        except DeviceUsage as exc:
            print(f"tidings: {exc}", file=sys.stderr)
            return 2
        except AddressInvalid as exc:
            if args.devices_verb == "add":
                print(f"tidings: {exc}", file=sys.stderr)
                return 1
            address = f"{args.platform}:{args.app}:{args.token}"  # names no device, so none is registered
    conn = connect(settings)
    if conn is None:
        return 2
    with conn:
        directory = DeviceDirectory(conn)
        if args.devices_verb == "list":
            print_devices(args.recipient_id, directory.list(args.recipient_id), args.json)
            return 0
        if args.devices_verb == "remove":
            if not directory.remove(args.recipient_id, args.channel, address):
                print(f"tidings: recipient {args.recipient_id!r} has no {args.channel} device {address!r}",
                      file=sys.stderr)
                return 1
            print(f"{args.recipient_id}: removed {args.channel} device {address}")
            return 0
        try:
            device = directory.add(args.recipient_id, args.channel, address)
        except DeviceInvalid as exc:
            print(f"tidings: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(device, indent=2, ensure_ascii=False))
    else:
        print(f"{args.recipient_id}: {device['channel']} device {device['address']} (added {device['added_at']})")
    return 0


def print_devices(recipient_id: str, devices: list[dict], as_json: bool) -> None:
    """A push device's platform, app and token (the token shortened in the table); another
    channel's address in the token column."""
    rows = []
    for device in devices:
        parts = {"platform": None, "app": None, "token": None}
        if device["channel"] == PUSH:
            parsed = parse_device(device["address"])
            parts = {"platform": parsed.platform, "app": parsed.app, "token": parsed.token}
        rows.append({**device, **parts})
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        print(f"{recipient_id}: no devices")
        return
    show(Console(), f"{recipient_id}: {len(rows)} device(s)", ("channel", "platform", "app", "token", "added_at"),
         [(row["channel"], row["platform"] or "-", row["app"] or "-", shortened(row["token"] or row["address"]),
           datetime.fromisoformat(row["added_at"]).isoformat(timespec="seconds")) for row in rows])


def shortened(token: str) -> str:
    """Enough of a token to tell devices apart; `--json` prints it whole."""
    return token if len(token) <= 20 else f"{token[:12]}…{token[-4:]}"


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
    add_devices_parser(actions)


def add_devices_parser(actions) -> None:
    devices = actions.add_parser("devices", help="a recipient's devices: push addresses, one per app install")
    device_verbs = devices.add_subparsers(dest="devices_verb", required=True, metavar="ACTION")
    naming = argparse.ArgumentParser(add_help=False)
    naming.add_argument("recipient_id", metavar="RECIPIENT_ID")
    naming.add_argument("address", nargs="?", metavar="ADDRESS",
                        help="the device's address (push: <platform>:<app>:<token>)")
    naming.add_argument("--channel", default=PUSH, help=f"a channel with devices (default {PUSH})")
    naming.add_argument("--platform", help="instead of ADDRESS: fcm, apns or apns-sandbox")
    naming.add_argument("--app", help="instead of ADDRESS: the Android package or iOS bundle id")
    naming.add_argument("--token", help="instead of ADDRESS: the registration (FCM) or device (APNs) token")
    add = device_verbs.add_parser("add", parents=[naming],
                                  help="register a device (moving it from the recipient it belonged to)")
    add.add_argument("--json", action="store_true", help="print the stored device as JSON")
    list_ = device_verbs.add_parser("list", help="a recipient's devices, oldest first per channel")
    list_.add_argument("recipient_id", metavar="RECIPIENT_ID")
    list_.add_argument("--json", action="store_true", help="print JSON, tokens whole")
    device_verbs.add_parser("remove", parents=[naming], help="forget one of the recipient's devices")
