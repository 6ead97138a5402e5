"""`tidings recipients upsert | show` and `tidings prefs set | show` against a real Postgres."""
from __future__ import annotations

import json

import psycopg

from consumer.settings import Settings
from tests.cli.run import tidings
from tracking.migrate import migrate


def test_recipients_upsert_and_show(database_url, tmp_path):
    settings = Settings(database_url=database_url)
    lines = [{"id": "u1", "email": "ada@example.com", "locale": "pt-BR", "timezone": "America/Sao_Paulo"},
             {"id": "u2", "phone": "+14155550100", "slack": "C0123456", "webhook_url": "https://hooks.example.com/x"}]
    path = tmp_path / "recipients.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    result = tidings(settings, "recipients", "upsert", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "upserted 2 recipient(s)"
    update = tidings(settings, "recipients", "upsert", "-", stdin='{"id": "u1", "phone": "+447911123456"}\n')
    assert update.returncode == 0, update.stderr

    shown = json.loads(tidings(settings, "recipients", "show", "u1").stdout)
    assert {k: shown[k] for k in ("id", "email", "phone", "locale", "timezone", "slack")} == {
        "id": "u1", "email": "ada@example.com", "phone": "+447911123456", "locale": "pt-BR",
        "timezone": "America/Sao_Paulo", "slack": None}
    missing = tidings(settings, "recipients", "show", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr
    deleted = tidings(settings, "recipients", "delete", "u2")
    assert deleted.returncode == 0 and "deleted u2" in deleted.stdout
    assert tidings(settings, "recipients", "delete", "u2").returncode == 1
    assert tidings(settings, "recipients", "show", "u2").returncode == 1


def test_an_invalid_line_is_reported_by_number_and_nothing_is_stored(database_url, tmp_path):
    migrate(database_url)
    settings = Settings(database_url=database_url)
    path = tmp_path / "recipients.jsonl"
    path.write_text('{"id": "ok", "email": "ok@example.com"}\n{"id": "bad", "phone": "12"}\nnot json\n')
    result = tidings(settings, "recipients", "upsert", str(path))
    assert result.returncode == 1
    assert "line 2: phone" in result.stderr and "line 3: not valid JSON" in result.stderr
    assert "nothing was stored" in result.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM recipients").fetchone()[0] == 0
    assert tidings(settings, "recipients", "upsert", str(tmp_path / "absent.jsonl")).returncode == 2


def test_prefs_set_and_show(database_url):
    settings = Settings(database_url=database_url)
    assert tidings(settings, "prefs", "set", "u1", "--channel", "email", "--off").stdout.strip() == \
        "u1: channel email x category * is off"
    assert tidings(settings, "prefs", "set", "u1", "--category", "marketing", "--off").returncode == 0
    assert tidings(settings, "prefs", "set", "u1", "--channel", "sms", "--category", "security", "--on").returncode == 0
    rows = json.loads(tidings(settings, "prefs", "show", "u1", "--json").stdout)
    assert [(r["channel"], r["category"], r["enabled"]) for r in rows] == [
        ("*", "marketing", False), ("email", "*", False), ("sms", "security", True)]
    assert tidings(settings, "prefs", "set", "u1", "--channel", "email", "--on").returncode == 0
    table = tidings(settings, "prefs", "show", "u1").stdout
    assert "email" in table and " on " in table
    assert "no preferences" in tidings(settings, "prefs", "show", "u2").stdout

    refused = tidings(settings, "prefs", "set", "u1", "--channel", "fax", "--off")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
    neither = tidings(settings, "prefs", "set", "u1", "--channel", "email")
    assert neither.returncode == 2 and "--off" in neither.stderr
