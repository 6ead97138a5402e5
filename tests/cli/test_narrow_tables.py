"""`tidings status`, `stats --by` and `audit` on narrow and wide terminals (COLUMNS), as a user runs
them against a real Postgres: every value (ids, timestamps, error classes) is printed whole."""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import psycopg
import pytest

from cli.tables import column_widths
from consumer.settings import Settings
from tests.cli.run import tidings
from tests.tracking.test_store import T0, event, record
from tracking.migrate import migrate

NOW = dt.datetime.now(dt.timezone.utc)
BOX = set("│┃┡━─┏┓┗┛└┘┌┐╇╈┃┼├┤")


def since_t0(**delta) -> float:
    return (NOW - dt.timedelta(**delta) - T0).total_seconds()


@pytest.fixture
def logs(database_url) -> tuple[Settings, str, str]:
    """A delivery log with a retry and a dead letter, and two audit rows; their ids."""
    migrate(database_url)
    notification_id, email, webhook = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    record(database_url, [
        event(email, "queued", seconds=since_t0(minutes=10), notification_id=notification_id),
        event(email, "retry_scheduled", seconds=since_t0(minutes=9), attempt=1, notification_id=notification_id,
              retry_tier="1m", due_at=NOW - dt.timedelta(minutes=8), status_code=421, error_class="smtp_421",
              error_message="4.7.0 [mx.example.com] try again later"),
        event(email, "sent", seconds=since_t0(minutes=8), attempt=2, notification_id=notification_id,
              provider="smtp"),
        event(webhook, "queued", seconds=since_t0(minutes=10), notification_id=notification_id, channel="webhook"),
        event(webhook, "dead_lettered", seconds=since_t0(minutes=9), attempt=1, notification_id=notification_id,
              channel="webhook", stage="channel-webhook", reason="permanent", status_code=404,
              error_class="http_404", error_message="https://hooks.example.com/tidings/endpoint-that-is-gone"),
    ])
    request_id = str(uuid.uuid4())
    with psycopg.connect(database_url) as conn:
        for principal, action, target, status in (
                ("billing-service", "notifications.create", f"/v1/notifications/{notification_id}", 202),
                ("ops@example.com", "endpoints.enable", "https://hooks.example.com/tidings", 403)):
            conn.execute("INSERT INTO audit_log (at, request_id, principal, action, target, outcome, status_code,"
                         " detail) VALUES (now() - interval '1 minute', %s, %s, %s, %s, %s, %s, %s)",
                         [request_id, principal, action, target, "ok" if status < 400 else "forbidden", status,
                          "2 events on tidings.events.high [priority=high]"])
    return Settings(database_url=database_url), notification_id, request_id


def assert_whole(output: str, values, columns: int) -> None:
    """Every word of every value appears uncut, nothing is ellipsised, and every table line fits."""
    words = {word for value in values for word in str(value).split()}
    missing = sorted(word for word in words if word not in output)
    assert not missing, f"cut at COLUMNS={columns}: {missing}\n{output}"
    assert "…" not in output, output
    too_wide = [line for line in output.splitlines() if len(line) > columns and BOX & set(line)]
    assert not too_wide, output


@pytest.mark.parametrize("columns", [40, 60, 200])
def test_status_prints_every_value_whole(logs, columns):
    settings, notification_id, _ = logs
    report = json.loads(tidings(settings, "status", notification_id, "--json").stdout)
    result = tidings(settings, "status", notification_id, COLUMNS=str(columns))
    assert result.returncode == 0, result.stderr
    values = [notification_id, "partially_delivered", "tier 1m", "channel-webhook"]
    for e in report["events"]:
        values += [e["channel"], e["occurred_at"][:23], e["status"], e["error_class"], e["error_message"]]
    assert_whole(result.stdout, [v for v in values if v], columns)


@pytest.mark.parametrize("columns", [40, 60, 200])
def test_stats_by_columns_prints_every_value_whole(logs, columns):
    settings, _, _ = logs
    by = "channel,status,provider"
    report = json.loads(tidings(settings, "stats", "--since", "1h", "--by", by, "--json").stdout)
    result = tidings(settings, "stats", "--since", "1h", "--by", by, COLUMNS=str(columns))
    assert result.returncode == 0, result.stderr
    # The window is the run's own (now - 1h to now): its bounds are whole ISO timestamps.
    assert re.search(r"from\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\s+to\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", result.stdout)
    values = ["retries per tier", "dead_lettered"]
    for entry in [*report["groups"], report["totals"]]:
        values += [entry.get(c) for c in ("channel", "status", "provider", "total", "delivered", "dead_lettered")]
        values += [f"{entry[c]:.3f}" for c in ("latency_p50_s", "latency_p99_s") if entry[c] is not None]
        values.append(f"{entry['sms_cost']:.4f}")
    assert_whole(result.stdout, [v for v in values if v is not None], columns)


@pytest.mark.parametrize("columns", [40, 60, 200])
def test_audit_prints_every_value_whole(logs, columns):
    settings, notification_id, request_id = logs
    rows = [json.loads(line) for line in tidings(settings, "audit", "--json").stdout.splitlines()]
    assert len(rows) == 2
    result = tidings(settings, "audit", COLUMNS=str(columns))
    assert result.returncode == 0, result.stderr
    values = [request_id, notification_id]
    for row in rows:
        at = dt.datetime.fromisoformat(row["at"]).isoformat(timespec="seconds")
        values += [at, row["principal"], row["action"], row["target"], row["outcome"], row["status_code"],
                   row["detail"]]
    assert_whole(result.stdout, values, columns)


def test_a_wide_terminal_gets_a_table_and_a_narrow_one_records(logs):
    settings, notification_id, request_id = logs
    wide = tidings(settings, "audit", COLUMNS="250").stdout
    assert BOX & set(wide) and "request id:" not in wide
    narrow = tidings(settings, "audit", COLUMNS="60").stdout
    assert not BOX & set(narrow)
    assert narrow.count(f"request id: {request_id}") == 2 and narrow.count("principal:") == 2
    assert "detail: 2 events on tidings.events.high [priority=high]" in narrow  # data, not markup
    # Pairs fill lines up to the width; only a pair longer than the width stands alone past it.
    assert all(len(line) <= 60 or "  " not in line for line in narrow.splitlines()), narrow
    assert "target: /v1/notifications/" in narrow and "outcome: ok  status: 202" in narrow


def test_column_widths_keep_words_whole_and_give_the_rest_to_short_columns():
    headers, rows = ("id", "detail"), [("a1b2", "one two three four five six")]
    assert column_widths(headers, rows, 4 + 6 + 7) == [4, 6]  # the longest words, within 7 of borders
    assert column_widths(headers, rows, 4 + 5 + 7) is None
    assert column_widths(headers, rows, 200) == [4, 27]


def test_a_free_text_column_may_fold_a_long_word_down_to_a_minimum():
    headers, rows = ("id", "error"), [("a1b2", "refused by https://hooks.example.com/a/very/long/path/to/fold")]
    assert column_widths(headers, rows, 40) is None
    assert column_widths(headers, rows, 4 + 20 + 7, [False, True]) == [4, 20]
    assert column_widths(headers, rows, 4 + 19 + 7, [False, True]) is None
