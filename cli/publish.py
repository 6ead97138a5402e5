"""`tidings publish FILE|-`: JSON lines -> NotificationEvents on their priority topics.

Prints one notification id per published event; invalid lines are reported with their line
number on stderr and nothing is published for them."""
from __future__ import annotations

import json
import sys
from typing import IO, Iterable

from confluent_kafka.admin import AdminClient

from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.notification_json import InvalidNotification, notification_from_json
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics, list_topics


def parse_lines(lines: Iterable[str]) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """(valid records with their line numbers, errors as (line number, reason))."""
    records, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append((number, notification_from_json(json.loads(line))))
        except json.JSONDecodeError as exc:
            errors.append((number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
        except InvalidNotification as exc:
            errors.append((number, str(exc)))
    return records, errors


def publish_command(path: str, settings: Settings, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    try:
        source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        print(f"tidings publish: cannot read {path}: {exc.strerror}", file=err)
        return 2
    with source:
        records, errors = parse_lines(source)
    for number, reason in errors:
        print(f"line {number}: {reason}", file=err)
    if not records:
        return 1 if errors else 0
    names = Topics(settings.topic_prefix)
    missing = set(names.all_events()) - set(list_topics(AdminClient(settings.kafka_common()), settings.topic_prefix))
    if missing:
        print(f"tidings publish: topics missing ({', '.join(sorted(missing))}); run `tidings topics create`", file=err)
        return 2
    codec = Codec.from_settings(settings)
    publisher = Publisher.from_settings(settings)
    failures: list[str] = []

    def reporter(number: int, notification_id: str):
        def on_delivery(kafka_error, _msg):
            if kafka_error is None:
                print(notification_id, file=out)
            else:
                failures.append(f"line {number}: not published: {kafka_error.str()}")
        return on_delivery

    for number, record in records:
        publisher.publish_sync(names.events(lane(record["priority"])), codec.encode(NOTIFICATION, record),
                               key=record["recipient"]["id"], on_delivery=reporter(number, record["id"]))
    remaining = publisher.close(timeout=60)
    for failure in failures:
        print(failure, file=err)
    if remaining:
        print(f"tidings publish: {remaining} events not acknowledged before the timeout", file=err)
    return 1 if errors or failures or remaining else 0
