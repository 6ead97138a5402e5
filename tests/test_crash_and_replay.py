"""The two things operators fear most: a worker killed with thousands of deliveries in flight,
and replaying the dead-letter topic after fixing the cause."""
from __future__ import annotations

import time

from tests.cli.run import tidings
from tests.pipeline import make_notifications, publish, wait_for_statuses

IN_FLIGHT = 2000


def test_kill_9_with_2000_in_flight_loses_nothing_and_duplicates_stay_under_the_in_flight_limit(
        pipeline, services, webhook_receiver):
    webhook_receiver.delay_s = 0.2
    limits = {"TIDINGS_MAX_IN_FLIGHT": str(IN_FLIGHT), "TIDINGS_WEBHOOK_CONCURRENCY": "200"}
    _, channel, _ = services.start_pipeline(**limits)
    notifications = make_notifications(3000, webhook_receiver.url)
    for n in notifications:  # one lane: strict priority holds lower lanes back while a higher one has work
        n["priority"] = "NORMAL"
    publish(pipeline, notifications)

    deadline, in_flight = time.monotonic() + 60, 0.0
    while in_flight < IN_FLIGHT * 0.9 and time.monotonic() < deadline:
        in_flight = channel.metric("tidings_in_flight_messages")
        time.sleep(0.02)
    channel.kill()  # SIGKILL: no drain, no commit
    assert IN_FLIGHT * 0.9 <= in_flight <= IN_FLIGHT
    got_before = len(webhook_receiver.notification_ids())
    assert got_before < 3000

    services.start("run", "channel", "webhook", **limits)
    received = webhook_receiver.wait_for(3000, timeout=180)
    assert set(received) == {n["id"] for n in notifications}
    wait_for_statuses(pipeline.database_url, received, timeout=120)
    duplicates = sum(count - 1 for count in received.values())
    print(f"kill -9 with {in_flight:.0f} in flight: {duplicates} duplicate deliveries")
    assert duplicates <= IN_FLIGHT


def test_replay_after_fixing_the_receiver_delivers_each_message_once(pipeline, services, webhook_receiver):
    webhook_receiver.status = 422  # permanent (410 would also disable the endpoint)
    services.start_pipeline()
    notifications = make_notifications(12, webhook_receiver.url)
    ids = [n["id"] for n in notifications]
    publish(pipeline, notifications)
    wait_for_statuses(pipeline.database_url, ids, statuses=("dead_lettered",), timeout=60)

    dry = tidings(pipeline, "dlq", "replay", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    time.sleep(2)
    assert len(webhook_receiver.bodies) == 12  # the dry run re-published nothing

    webhook_receiver.status = 200
    replay = tidings(pipeline, "dlq", "replay", "--yes")
    assert replay.returncode == 0, replay.stderr
    wait_for_statuses(pipeline.database_url, ids, statuses=("sent",), timeout=60)
    again = tidings(pipeline, "dlq", "replay", "--yes")  # run again: nothing is replayed twice
    assert again.returncode == 0, again.stderr
    time.sleep(3)
    delivered = [b for b in webhook_receiver.bodies if b["replay"] == 1]
    assert sorted(b["notification_id"] for b in delivered) == sorted(ids)  # each exactly once
    assert all(b["attempt"] == 1 for b in delivered)
    assert len(webhook_receiver.bodies) == 24
