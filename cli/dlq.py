"""`tidings dlq list|show|replay`: the operator's view of the dead-letter topic (<prefix>.dlq),
and the way its messages go back to the topics they first failed from."""
from __future__ import annotations

import argparse
import json
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from cli.dlq_read import (DeadLetter, DeadLetterFilter, DeadLetterTopicMissing, decode_payload, jsonable,
                          notification_id_of, parse_moment, read_dead_letters, summarize)
from consumer.codec import Codec
from consumer.settings import Settings
from consumer.topics import Topics

SAMPLES = 5


def dlq_command(args: argparse.Namespace, settings: Settings) -> int:
    out, err = Console(), Console(stderr=True)
    try:
        selection = DeadLetterFilter(getattr(args, "channel", None), getattr(args, "error", None),
                                     _moment(getattr(args, "since", None)), _moment(getattr(args, "until", None)))
    except ValueError as exc:
        err.print(f"tidings dlq: {exc}")
        return 2
    if args.dlq_verb == "replay":
        if not settings.database_url:
            err.print("tidings dlq replay: set TIDINGS_DATABASE_URL (the replay ledger and delivery states live there)")
            return 2
        if not (args.yes or args.dry_run or sys.stdin.isatty()):
            err.print("tidings dlq replay: refusing to replay without --yes when standard input is not a terminal "
                      "(use --dry-run to see what would be replayed)")
            return 2
    topic = Topics(settings.topic_prefix).dlq
    try:
        letters = read_dead_letters(settings, topic, idle_s=args.idle)
    except DeadLetterTopicMissing as exc:
        err.print(f"tidings dlq: {exc}")
        return 2
    codec = Codec.from_settings(settings)
    if args.dlq_verb == "show":
        return show(letters, args.notification_id, codec, args.json, out)
    selected = [letter for letter in letters if selection.matches(letter)]
    if args.dlq_verb == "list":
        return list_letters(selected, len(letters), codec, args.json, out)
    return replay(selected, topic, codec, settings, args, out, err)


def _moment(text: str | None):
    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor a duration such as 15m, 2h or 7d") from None


def list_letters(letters: list[DeadLetter], total: int, codec: Codec, as_json: bool, out: Console) -> int:
    found = summarize(letters, total, codec, SAMPLES)
    if as_json:
        print(json.dumps(found))
        return 0
    samples = found["samples"]
    table = Table("channel", "error class", "count", title=f"dead letters: {len(letters)} of {total}")
    for group in found["groups"]:
        table.add_row(group["channel"] or "-", group["error_class"] or "-", str(group["count"]))
    out.print(table)
    if samples:
        sample_table = Table(Column("notification", min_width=36, overflow="fold"), "reason", Column("error message", overflow="fold"),
                             title="samples")
        for sample in samples:
            sample_table.add_row(sample["notification_id"] or "-", sample["reason"] or "-", sample["error_message"] or "")
        out.print(sample_table)
    return 0


def show(letters: list[DeadLetter], notification_id: str, codec: Codec, as_json: bool, out: Console) -> int:
    found = []
    for letter in letters:
        payload = decode_payload(codec, letter.value)
        if notification_id_of(letter, payload) == notification_id:
            found.append({"topic": letter.topic, "partition": letter.partition, "offset": letter.offset,
                          "key": letter.key.decode("utf-8", "backslashreplace") if letter.key is not None else None,
                          "headers": {k: (v or b"").decode("utf-8", "backslashreplace") for k, v in letter.headers},
                          "payload": payload.as_json()})
    if as_json:
        print(json.dumps(found))
    elif not found:
        out.print(f"no dead letters for notification {notification_id}")
    for item in [] if as_json else found:
        out.rule(f"{item['topic']} partition {item['partition']} offset {item['offset']}  key {item['key']}")
        headers = Table("header", "value", show_header=False)
        for name, value in item["headers"].items():
            headers.add_row(name, value)
        out.print(headers)
        payload = item["payload"]
        out.print(f"payload ({payload['kind']}):")
        if payload["kind"] == "raw":
            out.print(f"hex: {payload['hex']}", markup=False)
            out.print(f"escaped: {bytes.fromhex(payload['hex'])!r}", markup=False)
        else:
            out.print_json(json.dumps(payload["record"]))
    return 0 if found else 1


def replay(letters: list[DeadLetter], topic: str, codec: Codec, settings: Settings, args: argparse.Namespace,
           out: Console, err: Console) -> int:
    from cli.dlq_replay import RatePacer, ReplayLedger, execute_replay, plan_replay
    from consumer.publisher import Publisher

    ledger = ReplayLedger.open(settings.database_url, migrate=not args.dry_run)
    try:
        plan = plan_replay(letters, ledger, codec, topic)
        summary = {"dry_run": args.dry_run, "matching": len(letters), "replayed": 0,
                   "skipped_already_replayed": len(plan.already_replayed),
                   "skipped_already_sent": len(plan.already_sent), "skipped_no_original_topic": len(plan.no_origin)}
        if args.dry_run:
            _print_plan(plan, out, args.json)
            summary["would_replay"] = len(plan.replay)
            return _summarize(summary, [], out, err, args.json)
        if plan.replay and not args.yes and not _confirm(len(plan.replay), err):
            err.print("nothing replayed")
            return 1
        publisher = Publisher.from_settings(settings)
        started = time.monotonic()
        try:
            with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=err, transient=args.json) as progress:
                task = progress.add_task("replay", total=len(plan.replay))
                result = execute_replay(plan, publisher, ledger, codec, Topics(settings.topic_prefix).deliveries,
                                        RatePacer(args.rate), advance=lambda: progress.advance(task))
        finally:
            publisher.close()
        summary.update(replayed=result.replayed, elapsed_s=round(time.monotonic() - started, 3))
        return _summarize(summary, result.failures, out, err, args.json)
    finally:
        ledger.close()


def _print_plan(plan, out: Console, as_json: bool) -> None:
    if as_json:
        return
    for republish in plan.replay:  # one line each, whole ids: meant to be grepped
        replay = f" replay {republish.replay}" if republish.replay else ""
        out.print(f"would replay {republish.letter.position} -> {republish.topic} notification "
                  f"{republish.notification_id or '-'} delivery {republish.delivery_id or '-'}{replay}",
                  markup=False, soft_wrap=True)


def _confirm(count: int, err: Console) -> bool:
    err.print(f"Replay {count} dead letters to their original topics? [y/N] ", end="")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _summarize(summary: dict, failures: list[str], out: Console, err: Console, as_json: bool) -> int:
    for failure in failures:
        err.print(f"not replayed: {failure}", markup=False)
    summary["failures"] = len(failures)
    if as_json:
        print(json.dumps(jsonable(summary)))
    else:
        verb = "would replay" if summary["dry_run"] else "replayed"
        count = summary.get("would_replay", summary["replayed"])
        out.print(f"{verb} {count}, skipped (already replayed) {summary['skipped_already_replayed']}, "
                  f"skipped (already sent) {summary['skipped_already_sent']}, "
                  f"skipped (no original topic) {summary['skipped_no_original_topic']}", soft_wrap=True)
    return 1 if failures else 0
