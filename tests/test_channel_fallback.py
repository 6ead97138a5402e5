"""Channel fallback on the real broker, Postgres and receiver: in-app first, then a webhook after a
few seconds unless the inbox item was read (test tiers 1s,2s). Not read: the webhook step is taken;
read (read_at set in the inbox, as the feed API does): it is skipped, recorded `cancelled` with
reason fallback_not_needed and why, and `tidings status` shows each step. A read ends the chain for
every later step; and with the router and the worker killed (SIGKILL, nothing committed) while steps
are pending, no step is taken twice and each is taken or skipped once (by Postgres)."""
from __future__ import annotations

import time
from datetime import timedelta

import psycopg

from consumer.events import utcnow
from tests.cli.run import tidings
from tests.pipeline import make_notifications, publish

WEBHOOK_STEP = {"channel": "webhook", "after_ms": 2000, "unless": "read"}


def chained(url: str, steps: list[dict], count: int = 1, recipient: str = "user-fallback") -> list[dict]:
    notifications = make_notifications(count, url, channels=("inapp",))
    for i, n in enumerate(notifications):
        n["priority"], n["recipient"]["id"], n["fallback"] = "NORMAL", f"{recipient}-{i}", steps
        n["recipient"]["addresses"] = {"email": "someone@example.com"}
    return notifications


def deliveries(database_url: str, notification_id: str) -> dict[str, tuple]:
    """channel -> (status, reason, error_message) of the notification's deliveries."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT channel, status, reason, error_message FROM deliveries WHERE notification_id = %s",
                            [notification_id]).fetchall()
    return {channel: tuple(rest) for channel, *rest in rows}


def wait_for_delivery(database_url: str, notification_id: str, channel: str, statuses, timeout: float = 90) -> tuple:
    deadline = time.monotonic() + timeout
    while (found := deliveries(database_url, notification_id).get(channel)) is None or found[0] not in statuses:
        assert time.monotonic() < deadline, f"{channel} of {notification_id}: {found}, expected one of {statuses}"
        time.sleep(0.1)
    return found


def mark_read(database_url: str, notification_id: str) -> None:
    """What POST /v1/inbox/items/{id}/read does to the item (tests/gateway/test_inbox_feed.py)."""
    with psycopg.connect(database_url) as conn:
        changed = conn.execute("UPDATE inbox_items SET read_at = now(), seen_at = now() WHERE notification_id = %s",
                               [notification_id]).rowcount
    assert changed == 1


def webhook_events(database_url: str, notification_id: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT status, stage, reason, error_message FROM delivery_events WHERE notification_id = %s"
                            " AND channel = 'webhook' ORDER BY occurred_at, attempt", [notification_id]).fetchall()


def start(services, **env):
    """Router, sink and the inapp and webhook workers, their group joins overlapping."""
    started = [services.start("run", "router", wait=False, **env), services.start("run", "sink", wait=False),
               services.start("run", "channel", "inapp", wait=False),
               services.start("run", "channel", "webhook", wait=False, **env)]
    for process in started:
        process.wait_assigned()
    return started


def test_an_unread_inbox_item_is_followed_by_the_webhook_step(pipeline, services, webhook_receiver):
    start(services)
    (n,) = chained(webhook_receiver.url, [WEBHOOK_STEP])
    published = time.time()
    publish(pipeline, [n])
    webhook_receiver.wait_for(1, timeout=60)
    assert webhook_receiver.notification_ids() == {n["id"]: 1}
    assert webhook_receiver.arrivals[0][0] >= published + 2  # not before its turn
    wait_for_delivery(pipeline.database_url, n["id"], "webhook", ("sent",))
    events = webhook_events(pipeline.database_url, n["id"])
    assert [e[:3] for e in events] == [("scheduled", "router", "fallback"), ("queued", "channel-webhook", "fallback_taken"),
                                       ("sent", None, None)]
    assert events[1][3] == "step 2: inapp was not read by then (sent)"
    shown = tidings(pipeline, "status", n["id"])
    assert shown.returncode == 0, shown.stderr
    assert "fallback" in shown.stdout and "taken: sent" in shown.stdout and "was not read" in shown.stdout


def test_a_read_inbox_item_spares_the_webhook_step_and_says_why(pipeline, services, webhook_receiver):
    start(services)
    (n,) = chained(webhook_receiver.url, [{**WEBHOOK_STEP, "after_ms": 4000}])
    publish(pipeline, [n])
    wait_for_delivery(pipeline.database_url, n["id"], "inapp", ("sent",), timeout=30)
    assert wait_for_delivery(pipeline.database_url, n["id"], "webhook", ("scheduled",))[1] == "fallback"
    mark_read(pipeline.database_url, n["id"])
    status, reason, why = wait_for_delivery(pipeline.database_url, n["id"], "webhook", ("cancelled", "sent"))
    assert (status, reason, why) == ("cancelled", "fallback_not_needed", "inapp was read")
    assert not webhook_receiver.bodies
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT status FROM notification_status WHERE notification_id = %s",
                            [n["id"]]).fetchone() == ("delivered",)  # a step not needed is no shortfall
        assert conn.execute("SELECT outcome FROM held_releases WHERE notification_id = %s",
                            [n["id"]]).fetchall() == [("not_needed",)]
    shown = tidings(pipeline, "status", n["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    import json
    steps = json.loads(shown.stdout)["fallback"]
    assert [(s["step"], s["channel"], s["outcome"], s["why"]) for s in steps] == [
        (1, "inapp", "sent", "the first step"), (2, "webhook", "skipped", "inapp was read")]


def test_a_read_after_the_second_step_went_ends_a_three_step_chain(pipeline, services, webhook_receiver):
    start(services)
    services.start("run", "channel", "email")  # never reached: the read ends the chain first
    (n,) = chained(webhook_receiver.url, [WEBHOOK_STEP, {"channel": "email", "after_ms": 8000, "unless": "delivered"}])
    publish(pipeline, [n])
    webhook_receiver.wait_for(1, timeout=60)  # step 2 was taken: the item was not read
    mark_read(pipeline.database_url, n["id"])
    status, reason, why = wait_for_delivery(pipeline.database_url, n["id"], "email", ("cancelled", "sent", "failed",
                                                                                      "retry_scheduled"))
    assert (status, reason, why) == ("cancelled", "fallback_not_needed", "inapp was read")
    assert webhook_receiver.notification_ids() == {n["id"]: 1}
    shown = tidings(pipeline, "status", n["id"])
    assert shown.returncode == 0, shown.stderr
    assert "skipped" in shown.stdout and "taken: sent" in shown.stdout


def test_kill_9_of_router_and_worker_with_steps_pending_takes_no_step_twice(pipeline, services, webhook_receiver):
    never = {"TIDINGS_COMMIT_INTERVAL_MS": "600000"}  # the router routes again, the worker redoes its legs
    router, _, _, channel = start(services, **never)
    pending = chained(webhook_receiver.url, [{**WEBHOOK_STEP, "after_ms": 8000}], count=4)
    publish(pipeline, pending)
    for n in pending:
        wait_for_delivery(pipeline.database_url, n["id"], "inapp", ("sent",), timeout=30)
    deadline = time.monotonic() + 30
    while channel.metric("tidings_held_messages_total", outcome="wait") < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert channel.metric("tidings_held_messages_total", outcome="wait") >= 4
    router.kill()
    channel.kill()
    read, unread = pending[:2], pending[2:]
    for n in read:
        mark_read(pipeline.database_url, n["id"])

    restarted = [services.start("run", "router", wait=False),
                 services.start("run", "channel", "webhook", wait=False)]
    for process in restarted:
        process.wait_assigned()
    for n in pending:
        wait_for_delivery(pipeline.database_url, n["id"], "webhook", ("sent", "cancelled"))
    # Due after every second copy (the router's second routing held them from its restart on).
    (marker,) = make_notifications(1, webhook_receiver.url)
    marker["priority"], marker["send_at"] = "NORMAL", utcnow() + timedelta(seconds=10)
    publish(pipeline, [marker])
    webhook_receiver.wait_for(len(unread) + 1, timeout=90)
    counts = webhook_receiver.notification_ids()
    assert {n["id"]: counts.get(n["id"], 0) for n in pending} == {**{n["id"]: 0 for n in read},
                                                                   **{n["id"]: 1 for n in unread}}
    with psycopg.connect(pipeline.database_url) as conn:
        claims = dict(conn.execute("SELECT notification_id::text, outcome FROM held_releases "
                                   "WHERE notification_id = ANY(%s::uuid[])", [[n["id"] for n in pending]]).fetchall())
        outcomes = conn.execute("SELECT status, count(*) FROM delivery_events WHERE notification_id = ANY(%s::uuid[]) "
                                "AND channel = 'webhook' AND status IN ('sent', 'cancelled') GROUP BY status ORDER BY 1",
                                [[n["id"] for n in pending]]).fetchall()
    assert claims == {**{n["id"]: "not_needed" for n in read}, **{n["id"]: "released" for n in unread}}
    assert outcomes == [("cancelled", 2), ("sent", 2)]
    duplicates = restarted[1].metric("tidings_held_messages_total", outcome="duplicate")
    print(f"kill -9 with fallback steps pending: {duplicates:.0f} second copies dropped, each step taken or skipped once")
    assert duplicates >= 4  # the router's second routing made a second copy of each step
