"""Quiet hours on the real broker, Postgres and receiver: a recipient whose quiet window (set with
`tidings prefs quiet`, in their own time zone) covers now gets a LOW notification when the window
ends, recorded `deferred` (reason quiet_hours, due_at the window's end, no attempt used); URGENT and
a critical category go through at once. The window is computed around the test's now: it ends at
the next minute boundary at least 15 s away."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.cli.run import tidings
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import events_of

ZONE = "Asia/Kolkata"  # +05:30: a window edge that is not on a UTC hour


def window_around_now() -> tuple[str, datetime]:
    """('<day> HH:MM-HH:MM' in ZONE covering now, its end in UTC)."""
    local = datetime.now(ZoneInfo(ZONE))
    start = local.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1 if (start + timedelta(minutes=1) - local).total_seconds() >= 15 else 2)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[start.weekday()]
    return f"{day} {start:%H:%M}-{end:%H:%M}", end.astimezone(timezone.utc)


def test_a_delivery_in_quiet_hours_waits_for_their_end_and_urgent_and_critical_go_through(
        pipeline, services, webhook_receiver):
    window, end = window_around_now()
    result = tidings(pipeline, "prefs", "quiet", "user-quiet", window)
    assert result.returncode == 0, result.stderr
    assert tidings(pipeline, "prefs", "quiet", "user-quiet", "--json").stdout.count(window) == 1
    services.start("run", "router", wait=False, TIDINGS_CRITICAL_CATEGORIES="security")
    services.start("run", "channel", "webhook", wait=False)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()

    quiet, urgent, critical = make_notifications(3, webhook_receiver.url)
    for n, priority, category in ((quiet, "LOW", "news"), (urgent, "URGENT", "news"), (critical, "LOW", "security")):
        n["priority"], n["category"] = priority, category
        n["recipient"].update(id="user-quiet", timezone=ZONE)
    publish(pipeline, [quiet, urgent, critical])

    wait_for_statuses(pipeline.database_url, [urgent["id"], critical["id"]], timeout=60)
    assert datetime.now(timezone.utc) < end, "the test machine was too slow to tell held from not held"
    assert quiet["id"] not in webhook_receiver.notification_ids()
    status, stage, reason, _, _, due_at = events_of(pipeline.database_url, quiet["id"])[0]
    assert (status, stage, reason, due_at) == ("deferred", "router", "quiet_hours", end)

    wait_for_statuses(pipeline.database_url, [quiet["id"]], timeout=120)
    (arrived,) = [t for t, i in webhook_receiver.arrivals if i == quiet["id"]]
    assert arrived >= end.timestamp(), "delivered inside the quiet window"
    print(f"quiet hours: delivered {arrived - end.timestamp():.3f} s after the window ended")
    assert [e[0] for e in events_of(pipeline.database_url, quiet["id"])] == ["deferred", "sent"]
    assert webhook_receiver.bodies[-1]["attempt"] == 1  # the wait used no attempt
    assert sorted(webhook_receiver.notification_ids().values()) == [1, 1, 1]
