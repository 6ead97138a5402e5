"""A second channel worker joining mid-stream takes over partitions: nothing is lost, and what is
redelivered is bounded by the in-flight limit."""
from __future__ import annotations

import time


from tests.pipeline import make_notifications, publish, wait_for_statuses

IN_FLIGHT = 40
# At 4 sends of 20 ms at a time (about 200/s) this is 8 s of work: the second worker, which takes a
# few seconds to start and join on a loaded machine, still finds some (with 800, one run found none).
COUNT = 1600



def test_a_worker_joining_mid_stream_loses_nothing(pipeline, services, webhook_receiver):
    webhook_receiver.delay_s = 0.02
    limits = {"TIDINGS_WEBHOOK_CONCURRENCY": "4", "TIDINGS_MAX_IN_FLIGHT": str(IN_FLIGHT), "TIDINGS_BATCH_SIZE": "20"}
    _, first, _ = services.start_pipeline(**limits)
    notifications = make_notifications(COUNT, webhook_receiver.url)
    publish(pipeline, notifications)
    deadline = time.monotonic() + 60
    while len(webhook_receiver.notification_ids()) < 100 and time.monotonic() < deadline:
        time.sleep(0.02)

    second = services.start("run", "channel", "webhook", wait=False, **limits)
    received = webhook_receiver.wait_for(COUNT, timeout=180)
    assert set(received) == {n["id"] for n in notifications}
    wait_for_statuses(pipeline.database_url, received)
    assert second.metric("tidings_messages_completed_total") > 0, "the rebalance never happened"
    assert first.metric("tidings_messages_completed_total") > 0
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= 2 * IN_FLIGHT
