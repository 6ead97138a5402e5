"""`tidings dlq list|show|replay`: the operator's view of the dead-letter topic (<prefix>.dlq) as
the tracking sink recorded it in Postgres, and the way its messages go back to the topics they
first failed from. The logic is tracking.dead_letters / dead_letter_replay; this is the terminal."""
from __future__ import annotations

import argparse
import json
import sys
import time

import psycopg
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from consumer.codec import Codec
from consumer.json_values import jsonable
from consumer.moments import parse_moment
from consumer.settings import Settings
from consumer.topics import Topics
from tracking.dead_letter_fetch import fetch_dead_letters
from consumer.pacing import Pacer
from tracking.dead_letter_replay import Replay, ReplayLedger, describe_planned
from tracking.dead_letters import DeadLetterFilter, NothingRecorded, described, of_notification, summarize


def dlq_command(args: argparse.Namespace, settings: Settings) -> int:
    out, err = Console(), Console(stderr=True)
    try:
        selection = DeadLetterFilter(getattr(args, "channel", None), getattr(args, "error", None),
                                     _moment(getattr(args, "since", None)), _moment(getattr(args, "until", None)))
    except ValueError as exc:
        err.print(f"tidings dlq: {exc}")
        return 2
    if not settings.database_url:
        err.print("tidings dlq: set TIDINGS_DATABASE_URL (the sink records the dead letters there, and the replay "
                  "ledger and delivery states live there)")
        return 2
    if args.dlq_verb == "replay" and not (args.yes or args.dry_run or sys.stdin.isatty()):
        err.print("tidings dlq replay: refusing to replay without --yes when standard input is not a terminal "
                  "(use --dry-run to see what would be replayed)")
        return 2
    topic = Topics(settings.topic_prefix).dlq
    try:
        if args.dlq_verb == "replay":
            return replay(selection, topic, settings, args, out, err)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            if args.dlq_verb == "show":
                return show(conn, topic, settings, args, out, err)
            return list_letters(summarize(conn, topic, selection), args.json, out)
    except NothingRecorded as exc:
        err.print(f"tidings dlq: {exc}")
        return 2


def _moment(text: str | None):
    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor a duration such as 15m, 2h or 7d") from None


def list_letters(found: dict, as_json: bool, out: Console) -> int:
    if as_json:
        print(json.dumps(found))
        return 0
    table = Table("channel", "error class", "count", title=f"dead letters: {found['matching']} of {found['total']}")
    for group in found["groups"]:
        table.add_row(group["channel"] or "-", group["error_class"] or "-", str(group["count"]))
    out.print(table)
    if found["samples"]:
        sample_table = Table(Column("notification", min_width=36, overflow="fold"), "reason",
                             Column("error message", overflow="fold"), title="samples")
        for sample in found["samples"]:
            sample_table.add_row(sample["notification_id"] or "-", sample["reason"] or "-", sample["error_message"] or "")
        out.print(sample_table)
    return 0


def show(conn: psycopg.Connection, topic: str, settings: Settings, args: argparse.Namespace, out: Console,
         err: Console) -> int:
    rows = of_notification(conn, topic, args.notification_id)
    try:
        letters = fetch_dead_letters(settings, topic, [(r["dlq_partition"], r["dlq_offset"]) for r in rows], args.idle)
    except KafkaException as exc:  # what Postgres holds is still worth showing
        err.print(f"tidings dlq show: cannot read {topic} ({exc}); showing what the sink recorded", markup=False)
        letters = {}
    codec = Codec.from_settings(settings)
    found = [described(row, letters.get((row["dlq_partition"], row["dlq_offset"])), codec) for row in rows]
    if args.json:
        print(json.dumps(found))
        return 0 if found else 1
    if not found:
        out.print(f"no dead letters for notification {args.notification_id}")
    for item in found:
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
        elif payload["kind"] == "unavailable":
            out.print(payload["reason"], markup=False)
        else:
            out.print_json(json.dumps(payload["record"]))
    return 0 if found else 1


def replay(selection: DeadLetterFilter, topic: str, settings: Settings, args: argparse.Namespace,
           out: Console, err: Console) -> int:
    from consumer.publisher import Publisher

    ledger = ReplayLedger.open(settings.database_url, migrate=not args.dry_run)
    try:
        plan = ledger.plan(topic, selection)
        if args.dry_run:
            if not args.json:
                _print_plan(ledger, topic, selection, out)
            return _summarize(_summary(plan, dry_run=True) | {"would_replay": plan.to_replay}, [], out, err, args.json)
        if plan.to_replay and not args.yes and not _confirm(plan.to_replay, err):
            err.print("nothing replayed")
            return 1
        ledger.lock(topic, on_wait=lambda: err.print("waiting for another replay of this topic to finish"))
        plan = ledger.plan(topic, selection)  # what the other replay did is skipped now
        publisher = Publisher.from_settings(settings)
        started = time.monotonic()
        run = Replay(settings, ledger, Codec.from_settings(settings), topic, Topics(settings.topic_prefix).deliveries,
                     selection, idle_s=args.idle)
        try:
            with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=err, transient=args.json) as progress:
                task = progress.add_task("replay", total=plan.to_replay)
                result = run.run(publisher, Pacer(args.rate), advance=lambda: progress.advance(task))
        except KafkaException as exc:
            err.print(f"tidings dlq replay: the broker did not answer ({exc}); run it again: what was replayed "
                      "is in the ledger and is skipped", markup=False)
            return 1
        finally:
            publisher.close()
        summary = _summary(plan, dry_run=False) | {"replayed": result.replayed,
                                                   "elapsed_s": round(time.monotonic() - started, 3)}
        return _summarize(summary, result.failures, out, err, args.json)
    finally:
        ledger.close()


def _summary(plan, dry_run: bool) -> dict:
    return {"dry_run": dry_run, "matching": plan.matching, "replayed": 0,
            "skipped_already_replayed": plan.already_replayed, "skipped_already_sent": plan.already_sent,
            "skipped_no_original_topic": plan.no_origin}


def _print_plan(ledger: ReplayLedger, topic: str, selection: DeadLetterFilter, out: Console) -> None:
    after = (-1, -1)
    while rows := ledger.planned(topic, selection, after):
        after = (rows[-1]["dlq_partition"], rows[-1]["dlq_offset"])
        for row in rows:
            out.print(describe_planned(row), markup=False, soft_wrap=True)


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
