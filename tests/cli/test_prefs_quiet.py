"""`tidings prefs quiet` sets, shows and clears a recipient's quiet hours per channel (in their time
zone from the directory); `tidings prefs show` lists them beside the opt-outs."""
from __future__ import annotations

import json

from consumer.settings import Settings
from tests.cli.run import tidings


def test_prefs_quiet_set_show_clear(database_url):
    settings = Settings(database_url=database_url)
    assert tidings(settings, "prefs", "quiet", "u1").stdout.strip() == "u1: no quiet hours"
    done = tidings(settings, "prefs", "quiet", "u1", "mon-fri 22:00-07:00", "weekends")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "u1: channel * is quiet mon-fri 22:00-07:00, sat-sun"
    assert tidings(settings, "prefs", "quiet", "u1", "--channel", "sms", "--never").stdout.strip() == \
        "u1: channel sms is quiet never"
    rows = json.loads(tidings(settings, "prefs", "quiet", "u1", "--json").stdout)
    assert [(r["channel"], r["windows"]) for r in rows] == [("*", ["mon-fri 22:00-07:00", "sat-sun"]), ("sms", [])]

    assert tidings(settings, "recipients", "upsert", "-", stdin='{"id": "u1", "timezone": "Europe/Lisbon"}\n') \
        .returncode == 0
    shown = tidings(settings, "prefs", "show", "u1").stdout
    assert "quiet hours, in Europe/Lisbon:" in shown and "mon-fri 22:00-07:00, sat-sun" in shown
    assert "never" in shown

    refused = tidings(settings, "prefs", "quiet", "u1", "mon-fri 22")
    assert refused.returncode == 1 and "HH:MM-HH:MM" in refused.stderr
    assert tidings(settings, "prefs", "quiet", "u1", "daily").returncode == 1  # the whole week: opt out instead
    both = tidings(settings, "prefs", "quiet", "u1", "sat-sun", "--clear")
    assert both.returncode == 2 and "not several" in both.stderr
    assert tidings(settings, "prefs", "quiet", "u1", "--channel", "sms", "--clear").stdout.strip() == \
        "u1: channel sms has no quiet hours of its own"
    assert [r["channel"] for r in json.loads(tidings(settings, "prefs", "quiet", "u1", "--json").stdout)] == ["*"]
