"""Rate limits on the real broker and Postgres: over the limit a notification is suppressed
(reason `rate_limited`) or deferred to a retry tier until its window; URGENT is exempt; the counts
hold across a router restart."""
from __future__ import annotations

import time

from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import events_of


def to_one_recipient(count: int, url: str, priority: str) -> list[dict]:
    notifications = make_notifications(count, url)
    for n in notifications:
        n["priority"], n["recipient"]["id"] = priority, "user-limited"
    return notifications


def test_over_the_limit_is_suppressed_urgent_is_exempt_and_counts_survive_a_restart(pipeline, services, webhook_receiver):
    limits = {"TIDINGS_RATE_LIMITS": "recipient=3/1h"}
    router = services.start("run", "router", wait=False, **limits)
    services.start("run", "channel", "webhook", wait=False)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()
    normal = to_one_recipient(5, webhook_receiver.url, "NORMAL")
    urgent = to_one_recipient(2, webhook_receiver.url, "URGENT")
    publish(pipeline, normal + urgent)
    statuses = wait_for_statuses(pipeline.database_url, [n["id"] for n in normal + urgent], statuses=("sent", "suppressed"))
    assert sorted(statuses[n["id"]] for n in normal) == ["sent"] * 3 + ["suppressed"] * 2
    assert all(statuses[n["id"]] == "sent" for n in urgent)
    suppressed = [n["id"] for n in normal if statuses[n["id"]] == "suppressed"]
    assert [e[:3] for e in events_of(pipeline.database_url, suppressed[0])] == [("suppressed", "router", "rate_limited")]
    assert router.metric("tidings_rate_limit_decisions_total", decision="suppressed") == 2
    assert router.metric("tidings_rate_limit_decisions_total", decision="exempt") == 2

    router.terminate()
    restarted = services.start("run", "router", **limits)
    later = to_one_recipient(2, webhook_receiver.url, "NORMAL")
    other = make_notifications(1, webhook_receiver.url)  # another recipient has its own count
    other[0]["priority"] = "NORMAL"
    publish(pipeline, later + other)
    statuses = wait_for_statuses(pipeline.database_url, [n["id"] for n in later + other], statuses=("sent", "suppressed"))
    assert [statuses[n["id"]] for n in later] == ["suppressed", "suppressed"]
    assert statuses[other[0]["id"]] == "sent"
    assert restarted.metric("tidings_rate_limit_decisions_total", decision="suppressed") == 2
    delivered = {n["id"] for n in normal + urgent + other} - set(suppressed)
    assert set(webhook_receiver.notification_ids()) == delivered


def test_over_the_limit_is_deferred_to_its_next_window_when_configured(pipeline, services, webhook_receiver):
    services.start("run", "router", wait=False, TIDINGS_RATE_LIMITS="recipient=2/10s", TIDINGS_RATE_LIMIT_ACTION="defer")
    services.start("run", "channel", "webhook", wait=False)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()
    notifications = to_one_recipient(4, webhook_receiver.url, "LOW")
    publish(pipeline, notifications)
    statuses = wait_for_statuses(pipeline.database_url, [n["id"] for n in notifications], statuses=("sent", "suppressed"))
    deferred = 0
    for n in notifications:
        events = events_of(pipeline.database_url, n["id"])
        if events[0][0] != "retry_scheduled":
            continue
        deferred += 1
        status, stage, reason, error_class, tier, due_at = events[0]
        assert (stage, reason, error_class) == ("router", "rate_limited", "rate_limited")
        assert statuses[n["id"]] == "sent"
        (arrival,) = [t for t, i in webhook_receiver.arrivals if i == n["id"]]
        assert arrival >= due_at.timestamp(), "delivered before its window"
    # Four at once against two per window: unless a window boundary split them, two wait.
    assert deferred >= 1
    assert all(count == 1 for count in webhook_receiver.notification_ids().values())
