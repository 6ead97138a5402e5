"""Several instances, stops and crashes, measured at the receiver: a clean stop of one of two
routers redoes nothing; a webhook worker killed with -9 under load redoes no more than the
documented bound (in flight + throughput x commit interval); a dead-letter replay killed with -9
and run again re-sends at most one message."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg

from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.publisher import Publisher
from consumer.topics import Topics
from tests.cli.run import tidings
from tests.pipeline import make_notifications, publish, wait_for_statuses

COMMIT_INTERVAL_S = 0.2  # the default TIDINGS_COMMIT_INTERVAL_MS
COMMIT_ROUND_TRIP_S = 0.1  # the documented allowance for the commit request itself


class PacedPublisher(threading.Thread):
    """Publishes notifications at about `per_second` in batches of a tenth of a second."""

    def __init__(self, settings, notifications: list[dict], per_second: int):
        super().__init__(daemon=True)
        self.settings, self.notifications, self.per_second = settings, notifications, per_second

    def run(self) -> None:
        codec, names = Codec.from_settings(self.settings), Topics(self.settings.topic_prefix)
        publisher = Publisher.from_settings(self.settings)
        step = max(1, self.per_second // 10)
        for start in range(0, len(self.notifications), step):
            began = time.monotonic()
            for n in self.notifications[start:start + step]:
                publisher.publish_sync(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                                       key=n["recipient"]["id"])
            publisher.flush(10)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
        assert publisher.close(timeout=30) == 0


def one_lane(notifications: list[dict]) -> list[dict]:
    for n in notifications:  # strict priority would hold lower lanes back; one lane keeps it simple
        n["priority"] = "NORMAL"
    return notifications


def test_a_clean_stop_of_one_of_two_routers_redoes_nothing(pipeline, services, webhook_receiver):
    first, _, _ = services.start_pipeline()
    second = services.start("run", "router")
    notifications = one_lane(make_notifications(3000, webhook_receiver.url))
    publisher = PacedPublisher(pipeline, notifications, 600)
    publisher.start()
    while len(webhook_receiver.notification_ids()) < 600:
        time.sleep(0.05)
    assert second.terminate(timeout=30) == 0  # SIGTERM while events keep arriving
    publisher.join()
    received = webhook_receiver.wait_for(3000, timeout=180)
    assert set(received) == {n["id"] for n in notifications}
    assert first.metric("tidings_messages_completed_total") > 0 and first.process.poll() is None
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates == 0, f"{duplicates} notifications were delivered twice after a clean stop"


def test_a_worker_killed_under_load_redoes_no_more_than_the_documented_bound(pipeline, services, webhook_receiver):
    in_flight = 100
    limits = {"TIDINGS_MAX_IN_FLIGHT": str(in_flight)}
    _, worker, _ = services.start_pipeline(**limits)
    notifications = one_lane(make_notifications(3000, webhook_receiver.url))
    publisher = PacedPublisher(pipeline, notifications, 500)
    publisher.start()
    while len(webhook_receiver.notification_ids()) < 1500:
        time.sleep(0.05)
    worker.kill()  # SIGKILL: no drain, no commit
    killed_at = time.time()
    recent = [t for t, _ in webhook_receiver.arrivals if killed_at - 1.0 <= t <= killed_at]
    rate = len(recent)  # deliveries in the last second before the kill
    restarted = services.start("run", "channel", "webhook", **limits)
    publisher.join()
    try:
        received = webhook_receiver.wait_for(3000, timeout=180)
    except AssertionError:
        missing = {n["id"] for n in notifications} - set(webhook_receiver.notification_ids())
        with psycopg.connect(pipeline.database_url) as conn:
            rows = conn.execute("SELECT status, count(*) FROM deliveries WHERE notification_id = ANY(%s::uuid[])"
                                " GROUP BY status", [list(missing)]).fetchall()
        print("MISSING", len(missing), rows, restarted.get("/healthz"))
        print("\n".join(l for l in restarted.get("/metrics")[1].splitlines() if "webhook.normal" in l or "gaps" in l))
        raise
    assert set(received) == {n["id"] for n in notifications}
    duplicates = sum(count - 1 for count in received.values())
    bound = in_flight + rate * (COMMIT_INTERVAL_S + COMMIT_ROUND_TRIP_S)
    print(f"kill -9 at {rate}/s with {in_flight} in flight: {duplicates} duplicates (bound {bound:.0f})")
    assert duplicates <= bound


def test_a_replay_killed_right_after_it_started_resends_at_most_one_message(pipeline, services, webhook_receiver):
    webhook_receiver.status = 422  # permanent: every notification is dead-lettered
    services.start_pipeline(TIDINGS_DEAD_LETTER_MAX_CONSECUTIVE="100000", TIDINGS_DEAD_LETTER_MAX_SHARE="1.1")
    notifications = make_notifications(500, webhook_receiver.url)
    publish(pipeline, notifications)
    ids = [n["id"] for n in notifications]
    wait_for_statuses(pipeline.database_url, ids, statuses=("dead_lettered",), timeout=120)
    webhook_receiver.status = 200

    env = {"TIDINGS_BOOTSTRAP_SERVERS": pipeline.bootstrap_servers, "TIDINGS_TOPIC_PREFIX": pipeline.topic_prefix,
           "TIDINGS_DATABASE_URL": pipeline.database_url}
    replay = subprocess.Popen([sys.executable, "-m", "cli.main", "dlq", "replay", "--yes"], env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while conn.execute("SELECT to_regclass('dlq_replays') IS NOT NULL AND EXISTS (SELECT 1 FROM dlq_replays)"
                           ).fetchone()[0] is not True:
            assert replay.poll() is None and time.monotonic() < deadline, "the replay ended before it was killed"
            time.sleep(0.005)
        replay.kill()
        replay.wait()
        recorded = conn.execute("SELECT count(*) FROM dlq_replays").fetchone()[0]
    assert recorded < 500, "the replay finished before it could be killed"

    rerun = tidings(pipeline, "dlq", "replay", "--yes", timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    wait_for_statuses(pipeline.database_url, ids, statuses=("sent",), timeout=120)
    replayed = webhook_receiver.notification_ids()
    resent = sum(1 for b in webhook_receiver.bodies if b["replay"] == 1)
    assert set(replayed) == set(ids)
    assert resent - len(ids) <= 1, f"{resent - len(ids)} replayed messages were sent twice"
