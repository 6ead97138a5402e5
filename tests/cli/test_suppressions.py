"""`tidings suppressions add | list | remove` against a real Postgres: normalised addresses, one list
per tenant, errors that store nothing."""
from __future__ import annotations

import json

import psycopg

from consumer.settings import Settings
from tests.cli.run import tidings


def stored(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT tenant, channel, address, reason, source FROM suppressions "
                            "ORDER BY tenant, channel, address").fetchall()


def test_add_list_and_remove_per_tenant(database_url):
    settings = Settings(database_url=database_url)
    added = tidings(settings, "suppressions", "add", "sms", "+1 (415) 555-0100", "--tenant", "acme",
                    "--reason", "unreachable", "--detail", "carrier: unknown subscriber")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "acme: suppressed sms address +14155550100 (unreachable)"
    email = tidings(settings, "suppressions", "add", "email", "ada@Example.COM", "--json")
    assert email.returncode == 0, email.stderr
    row = json.loads(email.stdout)
    assert {k: row[k] for k in ("tenant", "channel", "address", "reason", "source", "detail")} == {
        "tenant": "default", "channel": "email", "address": "ada@example.com", "reason": "manual", "source": "cli",
        "detail": None}
    again = tidings(settings, "suppressions", "add", "email", "ada@example.com", "--reason", "complaint")
    assert again.returncode == 0 and "was suppressed already (manual, since " in again.stdout
    assert stored(database_url) == [("acme", "sms", "+14155550100", "unreachable", "cli"),
                                    ("default", "email", "ada@example.com", "manual", "cli")]

    listed = json.loads(tidings(settings, "suppressions", "list", "--json").stdout)
    assert [(r["tenant"], r["address"]) for r in listed] == [("default", "ada@example.com"), ("acme", "+14155550100")]
    assert listed[1]["detail"] == "carrier: unknown subscriber"
    acme = json.loads(tidings(settings, "suppressions", "list", "--tenant", "acme", "--json").stdout)
    assert [r["address"] for r in acme] == ["+14155550100"]
    one = json.loads(tidings(settings, "suppressions", "list", "--channel", "sms", "--address", "+1 415 555 0100",
                             "--json").stdout)
    assert [r["tenant"] for r in one] == ["acme"]
    table = tidings(settings, "suppressions", "list", "--limit", "1", COLUMNS="160")
    assert table.returncode == 0, table.stderr
    assert "1 suppressed address(es), newest first (more: raise --limit)" in table.stdout
    assert "ada@example.com" in table.stdout and "+14155550100" not in table.stdout
    assert tidings(settings, "suppressions", "list", "--tenant", "globex").stdout.strip() == "no suppressed addresses"

    elsewhere = tidings(settings, "suppressions", "remove", "sms", "+14155550100")  # the default tenant's list
    assert elsewhere.returncode == 1
    assert elsewhere.stderr.strip() == "tidings: sms address '+14155550100' is not on tenant 'default''s suppression list"
    removed = tidings(settings, "suppressions", "remove", "sms", "+1-415-555-0100", "--tenant", "acme")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "acme: removed sms address +1-415-555-0100 from the suppression list"
    assert stored(database_url) == [("default", "email", "ada@example.com", "manual", "cli")]


def test_invalid_suppressions_are_refused_in_one_line_and_nothing_is_stored(database_url):
    settings = Settings(database_url=database_url)
    cases = [
        (("email", "ada-at-example.com"), "address: 'ada-at-example.com' is not an address like name@example.com"),
        (("sms", "4155550100"), "give the number in international form"),
        (("email", "a@b.c", "--tenant", "ac\x01me"), "tenant: contains a control character"),
        (("email", "a@b.c", "--tenant", " "), "tenant: required"),
    ]
    for arguments, message in cases:
        result = tidings(settings, "suppressions", "add", *arguments)
        assert result.returncode == 1, (arguments, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, (arguments, result.stderr)
        assert result.stdout == ""
    for arguments in (("fax", "123"), ("email", "a@b.c", "--reason", "bored"), ("email",)):
        result = tidings(settings, "suppressions", "add", *arguments)
        assert result.returncode == 2, (arguments, result.stderr)
        assert "invalid choice" in result.stderr or "required" in result.stderr, result.stderr
    assert stored(database_url) == []


def test_without_a_database_the_verbs_say_what_to_set():
    for arguments in (("add", "email", "a@b.c"), ("list",), ("remove", "email", "a@b.c")):
        result = tidings(None, "suppressions", *arguments, TIDINGS_DATABASE_URL="")
        assert result.returncode == 2
        assert result.stderr.strip() == "tidings: set TIDINGS_DATABASE_URL (a PostgreSQL conninfo or URL)"
