"""`tidings status`, `tidings stats` and `tidings db prune` as a user runs them (a child process)
against a real Postgres holding a known delivery log."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg
import pytest

from consumer.settings import Settings
from tests.cli.run import tidings
from tests.tracking.test_store import T0, event, record
from tracking.migrate import migrate

NOW = dt.datetime.now(dt.timezone.utc)


def ago(**delta) -> float:
    """Seconds from T0 to `delta` before now (event() counts from T0)."""
    return (NOW - dt.timedelta(**delta) - T0).total_seconds()


@pytest.fixture
def log(database_url) -> tuple[Settings, str]:
    migrate(database_url)
    notification_id = str(uuid.uuid4())
    email, webhook, old = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    record(database_url, [
        event(email, "queued", seconds=ago(minutes=10), notification_id=notification_id),
        event(email, "retry_scheduled", seconds=ago(minutes=9), attempt=1, notification_id=notification_id,
              retry_tier="1m", due_at=NOW - dt.timedelta(minutes=8), status_code=421, error_class="smtp_421",
              error_message="try again later"),
        event(email, "sent", seconds=ago(minutes=8), attempt=2, notification_id=notification_id, provider="smtp"),
        event(webhook, "queued", seconds=ago(minutes=10), notification_id=notification_id, channel="webhook"),
        event(webhook, "dead_lettered", seconds=ago(minutes=9), attempt=1, notification_id=notification_id,
              channel="webhook", stage="channel-webhook", reason="permanent", status_code=404),
        event(old, "queued", seconds=ago(days=100)),
    ])
    return Settings(database_url=database_url), notification_id


def test_status_prints_the_timeline_as_json_and_as_a_table(log):
    settings, notification_id = log
    result = tidings(settings, "status", notification_id, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["status"] == "partially_delivered"
    assert [(e["channel"], e["status"]) for e in report["events"]] == [
        ("email", "queued"), ("email", "retry_scheduled"), ("email", "sent"),
        ("webhook", "queued"), ("webhook", "dead_lettered")]
    table = tidings(settings, "status", notification_id, COLUMNS="200")
    assert table.returncode == 0, table.stderr
    for text in ("partially_delivered", "retry_scheduled", "tier 1m", "smtp_421", "dead_lettered",
                 "at channel-webhook"):
        assert text in table.stdout


def test_status_of_an_unknown_or_malformed_id(log):
    settings, _ = log
    unknown = tidings(settings, "status", str(uuid.uuid4()))
    assert unknown.returncode == 1 and "nothing recorded" in unknown.stderr
    bad = tidings(settings, "status", "42")
    assert bad.returncode == 2 and "'42' is not a notification id" in bad.stderr


def test_stats_json_and_table(log):
    settings, _ = log
    result = tidings(settings, "stats", "--since", "1h", "--by", "channel", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["by"] == ["channel"]
    assert {k: report["totals"][k] for k in ("total", "sent", "delivered", "dead_lettered")} == {
        "total": 2, "sent": 1, "delivered": 0, "dead_lettered": 1}
    assert report["totals"]["retries_by_tier"] == {"1m": 1}
    assert report["totals"]["latency_p50_s"] == pytest.approx(120, abs=0.01)
    assert {g["channel"]: g["total"] for g in report["groups"]} == {"email": 1, "webhook": 1}
    table = tidings(settings, "stats", "--since", "1h", "--by", "channel,status", COLUMNS="200")
    assert table.returncode == 0, table.stderr
    assert "retries per tier" in table.stdout and "dead_lettered" in table.stdout


def test_stats_refuses_bad_arguments(log):
    settings, _ = log
    result = tidings(settings, "stats", "--by", "channel,colour")
    assert result.returncode == 2 and "cannot group by 'colour'" in result.stderr
    result = tidings(settings, "stats", "--since", "yesterday")
    assert result.returncode == 2 and "'yesterday'" in result.stderr


def test_db_prune_dry_run_then_for_real(log):
    settings, _ = log
    dry = tidings(settings, "db", "prune", "--older-than", "90d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["deliveries_removed"] == 1
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 3
    done = tidings(settings, "db", "prune", "--older-than", "90d")
    assert done.returncode == 0 and "removed everything before" in done.stdout and "1 deliveries" in done.stdout
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 2
    bad = tidings(settings, "db", "prune", "--older-than", "90 days")
    assert bad.returncode == 2 and "90d" in bad.stderr
