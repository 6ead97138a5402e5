"""Scheduled sends on the real broker, Postgres and receiver: a notification with send_at is held on
its channel's retry tiers (test tiers 1s,2s: legs of 2 s) and reaches the receiver at send_at, not
before; a cancelled one records `cancelled` and never arrives; and with the router and the worker
killed (SIGKILL, nothing committed) while one is pending, it still goes out exactly once."""
from __future__ import annotations

import time
from datetime import timedelta

import psycopg

from consumer.events import utcnow
from tests.cli.run import tidings
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import events_of, wait_for_events


def scheduled(url: str, count: int = 1, in_s: float = 4.0, recipient: str = "user-scheduled") -> list[dict]:
    notifications = make_notifications(count, url)
    for n in notifications:
        n["priority"], n["recipient"]["id"] = "NORMAL", recipient
        n["send_at"] = utcnow() + timedelta(seconds=in_s)
    return notifications


def arrival(receiver, notification_id: str) -> float:
    (when,) = [t for t, i in receiver.arrivals if i == notification_id]
    return when


def test_a_scheduled_send_arrives_at_send_at_not_before_and_holds_nothing_else_up(pipeline, services, webhook_receiver):
    services.start_pipeline()
    later = scheduled(webhook_receiver.url, in_s=5.0)[0]
    now = make_notifications(1, webhook_receiver.url)[0]
    now["priority"], now["recipient"]["id"] = "NORMAL", later["recipient"]["id"]  # same key, same partitions
    publish(pipeline, [later, now])

    events = wait_for_events(pipeline.database_url, later["id"], "scheduled")
    assert events[0][:3] == ("scheduled", "router", "scheduled")
    assert abs(events[0][5] - later["send_at"]) < timedelta(milliseconds=1)  # due_at is send_at
    webhook_receiver.wait_for(1, timeout=30)
    assert set(webhook_receiver.notification_ids()) == {now["id"]}  # the immediate one is not held up

    wait_for_statuses(pipeline.database_url, [later["id"]], timeout=60)
    lateness = arrival(webhook_receiver, later["id"]) - later["send_at"].timestamp()
    print(f"scheduled send: arrived {lateness:.3f} s after send_at (tiers 1s,2s)")
    assert lateness >= 0, "delivered before send_at"
    assert [e[0] for e in events_of(pipeline.database_url, later["id"])] == ["scheduled", "sent"]
    assert webhook_receiver.notification_ids()[later["id"]] == 1
    shown = tidings(pipeline, "status", later["id"])
    assert shown.returncode == 0 and "scheduled" in shown.stdout and "sent" in shown.stdout


def test_a_cancelled_send_records_cancelled_and_never_reaches_the_receiver(pipeline, services, webhook_receiver):
    _, channel, _ = services.start_pipeline()
    # Far enough ahead that a loaded machine still cancels it before it is due.
    doomed = scheduled(webhook_receiver.url, in_s=15.0)[0]
    publish(pipeline, [doomed])
    wait_for_events(pipeline.database_url, doomed["id"], "scheduled")
    cancelled = tidings(pipeline, "cancel", doomed["id"])
    assert cancelled.returncode == 0, cancelled.stderr
    assert "will not be sent" in cancelled.stdout and "cancelled at" in cancelled.stdout
    again = tidings(pipeline, "cancel", doomed["id"])
    assert again.returncode == 0 and "cancelled already" in again.stdout

    # The marker is due after the cancelled one, on the same key: once it is in, the other was due.
    marker = scheduled(webhook_receiver.url, in_s=(doomed["send_at"] - utcnow()).total_seconds() + 1.5)[0]
    publish(pipeline, [marker])
    webhook_receiver.wait_for(1, timeout=60)
    wait_for_statuses(pipeline.database_url, [doomed["id"]], statuses=("cancelled",), timeout=60)
    assert set(webhook_receiver.notification_ids()) == {marker["id"]}
    events = events_of(pipeline.database_url, doomed["id"])
    assert [e[:2] for e in events] == [("scheduled", "router"), ("cancelled", "channel-webhook")]
    assert channel.metric("tidings_held_messages_total", outcome="cancelled") == 1

    wait_for_statuses(pipeline.database_url, [marker["id"]], timeout=60)
    late = tidings(pipeline, "cancel", marker["id"])
    assert late.returncode == 3 and "nothing left to cancel" in late.stderr  # it went out already
    unknown = tidings(pipeline, "cancel", "5b1c3c0e-0000-4000-8000-000000000000")
    assert unknown.returncode == 1 and "nothing is recorded" in unknown.stderr
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT status, cancelled FROM notification_status WHERE notification_id = %s",
                            [doomed["id"]]).fetchone() == ("cancelled", 1)


def test_kill_9_of_router_and_worker_while_a_send_is_scheduled_sends_it_exactly_once(
        pipeline, services, webhook_receiver):
    # Nothing committed before the kill (router nor worker): the router routes the event again and
    # the worker takes every leg again, so two copies of the delivery ride the tiers and both come
    # due. (The router's own 200 ms commits made its second routing a matter of luck.)
    never = {"TIDINGS_COMMIT_INTERVAL_MS": "600000"}
    router, channel, _ = services.start_pipeline(router_env=never, **never)
    pending = scheduled(webhook_receiver.url, count=3, in_s=8.0)
    publish(pipeline, pending)
    for n in pending:
        wait_for_events(pipeline.database_url, n["id"], "scheduled")
    deadline = time.monotonic() + 30
    while channel.metric("tidings_held_messages_total", outcome="wait") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker has taken (and re-parked) a leg of each
    assert channel.metric("tidings_held_messages_total", outcome="wait") >= 3
    router.kill()
    channel.kill()
    assert not webhook_receiver.bodies

    services.start("run", "router", wait=False)
    restarted = services.start("run", "channel", "webhook", wait=False)
    for process in services.started[-2:]:
        process.wait_assigned()
    wait_for_statuses(pipeline.database_url, [n["id"] for n in pending], timeout=90)
    marker = scheduled(webhook_receiver.url, in_s=3.0)[0]  # due after every copy of the others
    publish(pipeline, [marker])
    webhook_receiver.wait_for(4, timeout=60)
    counts = webhook_receiver.notification_ids()
    assert {n["id"]: counts[n["id"]] for n in pending} == {n["id"]: 1 for n in pending}
    for n in pending:
        assert arrival(webhook_receiver, n["id"]) >= n["send_at"].timestamp()
    with psycopg.connect(pipeline.database_url) as conn:
        sent = conn.execute("SELECT count(*) FROM delivery_events WHERE notification_id = ANY(%s::uuid[]) "
                            "AND status = 'sent'", [[n["id"] for n in pending]]).fetchone()[0]
        released = conn.execute("SELECT count(*) FROM held_releases WHERE notification_id = ANY(%s::uuid[])",
                                [[n["id"] for n in pending]]).fetchone()[0]
    assert (sent, released) == (3, 3)
    deadline = time.monotonic() + 30
    while restarted.metric("tidings_held_messages_total", outcome="duplicate") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # each second copy is judged once it comes due
    duplicates = restarted.metric("tidings_held_messages_total", outcome="duplicate")
    print(f"kill -9 while scheduled: {duplicates:.0f} second copies dropped, each send delivered once")
    assert duplicates >= 3  # the router's second routing made a second copy of each
