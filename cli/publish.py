"""`tidings publish FILE|-`: JSON -> NotificationEvents on their priority topics. The file is JSON
Lines (one notification per line) or one JSON document (an object, or an array of objects, laid
out freely, as people copy them from the docs).

Prints one notification id per published event; invalid ones are reported on stderr with the line
they start on, and nothing is published for them."""
from __future__ import annotations

import json
import re
import sys
import threading
from typing import IO, Any, Iterable

from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.notification_json import InvalidNotification, notification_from_json
from consumer.publisher import Publisher
from consumer.kafka_logging import check_reachable
from consumer.settings import Settings
from consumer.topics import Topics, admin_client, list_topics


Parsed = tuple[list[tuple[int, dict]], list[tuple[int, str]]]  # (line, record) and (line, reason)
SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace (RFC 8259 2)


def parse(text: str) -> Parsed:
    """Valid records and errors, each with the line it starts on. The text is one JSON document
    when it parses as one; otherwise JSON Lines, unless no line holds an object of its own (then it
    is a document with a syntax error, reported once where the parser stopped)."""
    if not text.strip():
        return [], []
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.split("\n")  # not splitlines(): U+2028 and friends may stand inside a JSON string
        if any(_is_object(line) for line in lines):
            return parse_lines(lines)
        return [], [(exc.lineno, f"not valid JSON: {exc.msg} at column {exc.colno}")]
    if isinstance(document, list):
        return _validate(_array_items(text), numbered=True)
    return _validate([(_first_line(text), document)])


def parse_lines(lines: Iterable[str]) -> Parsed:
    """JSON Lines: one notification per non-blank line."""
    items, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            errors.append((number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
    records, invalid = _validate(items)
    return records, sorted(errors + invalid)


def _validate(items: list[tuple[int, Any]], numbered: bool = False) -> Parsed:
    """`numbered`: the items of an array, named by position too (several may share a line)."""
    records, errors = [], []
    for index, (number, value) in enumerate(items, start=1):
        try:
            records.append((number, notification_from_json(value)))
        except InvalidNotification as exc:
            errors.append((number, f"item {index}: {exc}" if numbered else str(exc)))
    return records, errors


def _array_items(text: str) -> list[tuple[int, Any]]:
    """The elements of a JSON array document (already known to parse) with the line each starts on."""
    decoder, items = json.JSONDecoder(), []
    at = SPACE.match(text).end() + 1  # past "["
    while True:
        at = SPACE.match(text, at).end()
        if text[at] == "]":
            return items
        value, end = decoder.raw_decode(text, at)
        items.append((text.count("\n", 0, at) + 1, value))
        at = SPACE.match(text, end).end()
        at += text[at] == ","


def _first_line(text: str) -> int:
    return text.count("\n", 0, SPACE.match(text).end()) + 1


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def publish_command(path: str, settings: Settings, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    try:
        source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        print(f"tidings publish: cannot read {path}: {exc.strerror}", file=err)
        return 2
    try:
        with source:
            text = source.read()
    except UnicodeDecodeError as exc:
        print(f"tidings publish: cannot read {path}: not UTF-8 ({exc.reason} at byte {exc.start})", file=err)
        return 2
    records, errors = parse(text)
    for number, reason in errors:
        print(f"line {number}: {reason}", file=err)
    if not records:
        return 1 if errors else 0
    names = Topics(settings.topic_prefix)
    admin = admin_client(settings.kafka_common())
    check_reachable(admin, settings.bootstrap_servers)  # else BrokerUnreachable: one line (cli/main.py)
    missing = set(names.all_events()) - set(list_topics(admin, settings.topic_prefix))
    if missing:
        print(f"tidings publish: topics missing ({', '.join(sorted(missing))}); run `tidings topics create`", file=err)
        return 2
    codec = Codec.from_settings(settings)
    publisher = Publisher.from_settings(settings)
    failures: list[str] = []
    # Delivery reports are served by the publisher's poll thread and by close()'s flush on this
    # one, sometimes both at once: print() writes the id and its newline apart, and two ids came
    # out as one line.
    printing = threading.Lock()

    def reporter(number: int, notification_id: str):
        def on_delivery(kafka_error, _msg):
            if kafka_error is None:
                with printing:
                    out.write(f"{notification_id}\n")
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
