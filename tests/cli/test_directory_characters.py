"""`tidings recipients upsert` and `tidings prefs set` refuse control characters field by field
(consumer/text_rules.py), as the gateway does, and store nothing for them."""
from __future__ import annotations

import json

import psycopg

from consumer.settings import Settings
from tests.cli.run import tidings
from tracking.migrate import migrate


def test_a_nul_in_a_recipient_line_is_reported_by_field_and_nothing_is_stored(database_url):
    migrate(database_url)
    settings = Settings(database_url=database_url)
    lines = [json.dumps({"id": "u1", "email": "ada@example.com"}),
             json.dumps({"id": "ab\u0000c", "email": "ada@example.com"}),  # a NUL in the id once crashed the CLI
             json.dumps({"id": "u3", "slack": "C0\u0001DB"})]
    result = tidings(settings, "recipients", "upsert", "-", stdin="\n".join(lines) + "\n")
    assert result.returncode == 1, result.stderr
    assert "line 2: id: contains a control character (U+0000) at position 3" in result.stderr
    assert "line 3: slack: contains a control character (U+0001) at position 3" in result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM recipients").fetchone()[0] == 0


def test_a_control_character_in_a_preference_is_refused(database_url):
    migrate(database_url)
    settings = Settings(database_url=database_url)
    result = tidings(settings, "prefs", "set", "u1", "--category", "news\x1b[0m", "--off")
    assert result.returncode == 1
    assert "category: contains a control character (U+001B) at position 5" in result.stderr
    recipient = tidings(settings, "prefs", "set", "u\x7f1", "--off")
    assert recipient.returncode == 1 and "recipient: contains a control character (U+007F)" in recipient.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM preferences").fetchone()[0] == 0
