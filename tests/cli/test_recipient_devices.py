"""`tidings recipients devices add | list | remove` against a real Postgres: addresses and their
parts, normalisation, moving a device, and errors that store nothing."""
from __future__ import annotations

import json

import psycopg

from consumer.settings import Settings
from tests.cli.run import tidings

FCM_TOKEN = "dQw4w9WgXcQ:APA91bH" + "x7_-" * 35
APNS_TOKEN = "AB" * 32
FCM = f"fcm:com.example.app:{FCM_TOKEN}"


def stored(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT recipient_id, channel, address FROM recipient_devices "
                            "ORDER BY recipient_id, address").fetchall()


def test_add_by_address_or_parts_list_and_remove(database_url):
    settings = Settings(database_url=database_url)
    added = tidings(settings, "recipients", "devices", "add", "u1", FCM)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"u1: push device {FCM} (added ")
    parts = tidings(settings, "recipients", "devices", "add", "u1", "--platform", "APNS", "--app", "com.example.App",
                    "--token", APNS_TOKEN, "--json")
    assert parts.returncode == 0, parts.stderr
    device = json.loads(parts.stdout)
    assert device["channel"] == "push" and device["address"] == f"apns:com.example.App:{APNS_TOKEN.lower()}"
    again = tidings(settings, "recipients", "devices", "add", "u1", f"apns:com.example.App:{APNS_TOKEN}", "--json")
    assert json.loads(again.stdout) == device  # the same device, upper or lower case: its first added_at
    assert stored(database_url) == [("u1", "push", device["address"]), ("u1", "push", FCM)]

    listed = json.loads(tidings(settings, "recipients", "devices", "list", "u1", "--json").stdout)
    assert [(d["platform"], d["app"], d["token"]) for d in listed] == [
        ("fcm", "com.example.app", FCM_TOKEN), ("apns", "com.example.App", APNS_TOKEN.lower())]
    assert all(set(d) == {"channel", "address", "added_at", "platform", "app", "token"} for d in listed)
    table = tidings(settings, "recipients", "devices", "list", "u1", COLUMNS="160")
    assert table.returncode == 0, table.stderr
    assert f"{FCM_TOKEN[:12]}…{FCM_TOKEN[-4:]}" in table.stdout and FCM_TOKEN not in table.stdout
    assert "com.example.App" in table.stdout and "apns" in table.stdout and "2 device(s)" in table.stdout
    assert tidings(settings, "recipients", "devices", "list", "u2").stdout.strip() == "u2: no devices"
    assert json.loads(tidings(settings, "recipients", "devices", "list", "u2", "--json").stdout) == []

    removed = tidings(settings, "recipients", "devices", "remove", "u1", "--platform", "apns", "--app",
                      "com.example.App", "--token", APNS_TOKEN)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"u1: removed push device apns:com.example.App:{APNS_TOKEN.lower()}"
    assert tidings(settings, "recipients", "devices", "remove", "u1", FCM, "--channel", "push").returncode == 0
    assert stored(database_url) == []


def test_a_device_registered_again_moves_to_the_new_recipient(database_url):
    settings = Settings(database_url=database_url)
    assert tidings(settings, "recipients", "devices", "add", "u1", FCM).returncode == 0
    assert tidings(settings, "recipients", "devices", "add", "u2", FCM).returncode == 0
    assert stored(database_url) == [("u2", "push", FCM)]
    assert tidings(settings, "recipients", "devices", "list", "u1").stdout.strip() == "u1: no devices"
    missing = tidings(settings, "recipients", "devices", "remove", "u1", FCM)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"tidings: recipient 'u1' has no push device {FCM!r}"
    assert stored(database_url) == [("u2", "push", FCM)]


def test_invalid_devices_are_refused_in_one_line_and_nothing_is_stored(database_url):
    settings = Settings(database_url=database_url)
    cases = [
        (("u1", "web:com.example.app:" + FCM_TOKEN), "push platform 'web' is not one of fcm, apns, apns-sandbox"),
        (("u1", "--platform", "web", "--app", "com.example.app", "--token", FCM_TOKEN),
         "push platform 'web' is not one of"),
        (("u1", "apns:com.example.App:not-hex"), "an APNs device token is 64-200 hexadecimal digits"),
        (("u1", "--platform", "fcm", "--app", "com.example.app", "--token", "short"), "an FCM registration token"),
        (("u1", "fcm:com.example.app"), "a push address is <platform>:<app>:<token>"),
        (("u1", "ada@example.com", "--channel", "email"),
         "channel 'email' has no devices (channels with devices: push"),
        (("u1", FCM, "--channel", "fax"), "channel 'fax' has no devices"),
        (("u\x01", FCM), "recipient_id: contains a control character"),
    ]
    for arguments, message in cases:
        result = tidings(settings, "recipients", "devices", "add", *arguments)
        assert result.returncode == 1, (arguments, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, (arguments, result.stderr)
        assert result.stdout == ""
    usage = [("u1",), ("u1", FCM, "--platform", "fcm"), ("u1", "--platform", "fcm", "--app", "com.example.app"),
             ("u1", "--channel", "email", "--platform", "fcm", "--app", "a", "--token", FCM_TOKEN)]
    for arguments in usage:
        result = tidings(settings, "recipients", "devices", "add", *arguments)
        assert result.returncode == 2 and result.stderr.startswith("tidings: "), (arguments, result.stderr)
    assert stored(database_url) == []
    unknown = tidings(settings, "recipients", "devices", "remove", "u1", "--platform", "web", "--app", "a",
                      "--token", FCM_TOKEN)
    assert unknown.returncode == 1 and "has no push device 'web:a:" in unknown.stderr


def test_without_a_database_the_devices_verbs_say_what_to_set():
    for arguments in (("add", "u1", FCM), ("list", "u1"), ("remove", "u1", FCM)):
        result = tidings(None, "recipients", "devices", *arguments, TIDINGS_DATABASE_URL="")
        assert result.returncode == 2
        assert result.stderr.strip() == "tidings: set TIDINGS_DATABASE_URL (a PostgreSQL conninfo or URL)"
