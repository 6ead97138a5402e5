"""All the held work of issue 19 at once through a crash: a scheduled send, a delivery deferred by
quiet hours, an open digest and a pending fallback step, when the router and the webhook worker are
killed (SIGKILL, nothing committed) and restarted. Every scheduled and deferred send and the digest
go out exactly once, and the fallback step is taken exactly once (by the receiver and by Postgres)."""
from __future__ import annotations

from datetime import timedelta

import psycopg

from consumer.events import utcnow
from tests.cli.run import tidings
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import wait_for_events
from tests.test_channel_fallback import chained
from tests.test_digests import burst, digests_of
from tests.test_quiet_hours import ZONE, window_around_now

NEVER = {"TIDINGS_COMMIT_INTERVAL_MS": "600000"}  # nothing committed: both redo everything after the kill


def test_kill_9_with_scheduled_deferred_digest_and_fallback_work_pending(pipeline, services, webhook_receiver):
    window, quiet_end = window_around_now()
    assert tidings(pipeline, "prefs", "quiet", "user-asleep", window).returncode == 0
    router = services.start("run", "router", wait=False, **NEVER)
    webhook = services.start("run", "channel", "webhook", wait=False, **NEVER)
    services.start("run", "channel", "inapp", wait=False)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()

    scheduled = make_notifications(2, webhook_receiver.url)
    for n in scheduled:
        n["priority"], n["send_at"] = "NORMAL", utcnow() + timedelta(seconds=10)
    [deferred] = make_notifications(1, webhook_receiver.url)
    deferred["priority"] = "LOW"
    deferred["recipient"].update(id="user-asleep", timezone=ZONE)
    folded = burst(webhook_receiver.url, 3, "user-digest", {"key": "comments", "window_ms": 10000})
    [chain] = chained(webhook_receiver.url, [{"channel": "webhook", "after_ms": 8000, "unless": "read"}])
    publish(pipeline, [*scheduled, deferred, *folded, chain])
    for n, status in [*((n, "scheduled") for n in scheduled), (deferred, "deferred"),
                      *((n, "digested") for n in folded), (chain, "scheduled")]:
        wait_for_events(pipeline.database_url, n["id"], status)
    assert utcnow() < quiet_end, "the machine was too slow: the quiet window ended before the kill"
    router.kill()
    webhook.kill()
    assert not webhook_receiver.bodies

    services.start("run", "router", wait=False)
    services.start("run", "channel", "webhook", wait=False)
    for process in services.started[-2:]:
        process.wait_assigned()
    everything = [*scheduled, deferred, *folded]
    wait_for_statuses(pipeline.database_url, [n["id"] for n in everything], timeout=180)
    # Due after every copy of the others (the redone routing made second copies): once it is in,
    # any second copy has come due too, and was dropped.
    [marker] = make_notifications(1, webhook_receiver.url)
    marker["priority"], marker["send_at"] = "NORMAL", utcnow() + timedelta(seconds=4)
    publish(pipeline, [marker])
    wait_for_statuses(pipeline.database_url, [marker["id"]], timeout=90)

    counts = webhook_receiver.notification_ids()
    [(digest_id, _, items, closed)] = digests_of(pipeline.database_url, "user-digest")
    assert (items, closed) == (3, True)
    expected = {**{n["id"]: 1 for n in scheduled}, deferred["id"]: 1, digest_id: 1, chain["id"]: 1, marker["id"]: 1}
    names = {**{n["id"]: "scheduled" for n in scheduled}, deferred["id"]: "deferred", digest_id: "digest",
             chain["id"]: "fallback step", marker["id"]: "marker"}
    assert counts == expected, {names.get(i, i): c for i, c in counts.items()}
    (arrived,) = [t for t, i in webhook_receiver.arrivals if i == deferred["id"]]
    assert arrived >= quiet_end.timestamp(), "sent inside the quiet window"
    with psycopg.connect(pipeline.database_url) as conn:
        sent = dict(conn.execute(
            "SELECT notification_id::text, count(*) FROM delivery_events WHERE status = 'sent' AND channel = 'webhook'"
            " GROUP BY notification_id").fetchall())
        taken = conn.execute("SELECT count(*) FROM held_releases WHERE notification_id = %s", [chain["id"]]).fetchone()
    assert {n: sent[n] for n in expected} == expected  # one `sent` each: digest, steps and sends once
    assert taken == (1,)
