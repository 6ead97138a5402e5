"""The gateway's dead-letter replay as a background job: POST /v1/dlq/replay answers 202 with the
job and its Location, GET /v1/dlq/replays/{id} follows it to `done`, and a job whose gateway
stopped (SIGTERM) or died (kill -9) is reported failed/interrupted by any gateway process, its
ledger making a rerun re-send nothing twice (at most the one message acknowledged but not recorded)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import psycopg

from bench.testbed import http_ok
from cli.embedded import free_port
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE
from consumer.topics import Topics
from tests.cli.test_dlq import DeadLetters, channel_message
from tests.gateway.conftest import AUDIENCE, ISSUER, SECRET, make_token
from tests.pipeline import make_notifications, publish, read_topic, wait_for_statuses


def wait_until(check, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} not met in {timeout}s")


def wait_for_job(gateway, token: str, location: str, timeout: float = 120) -> dict:
    """The job once it is over (done or failed)."""
    def over():
        answer = gateway.request("GET", location, token)
        assert answer.status_code == 200, answer.text
        return answer.json() if answer.json()["state"] in ("done", "failed") else None
    return wait_until(over, timeout, f"replay {location} over")


def start_replay(gateway, token: str, body: dict) -> tuple[dict, str]:
    answer = gateway.request("POST", "/v1/dlq/replay", token, json=body)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["Location"] == f"/v1/dlq/replays/{job['id']}"
    return job, answer.headers["Location"]


def replays_on(pipeline, topic: str) -> Counter:
    codec = Codec.from_settings(pipeline)
    return Counter(str(codec.decode(CHANNEL_MESSAGE, m.value())["delivery_id"]) for m in read_topic(pipeline, topic))


def test_a_replay_job_runs_in_the_background_and_each_message_is_delivered_once(gateway, services, pipeline,
                                                                                 webhook_receiver):
    webhook_receiver.status = 422  # permanent: dead-lettered at once
    services.start_pipeline()
    notifications = make_notifications(8, webhook_receiver.url)
    ids = [n["id"] for n in notifications]
    publish(pipeline, notifications)
    wait_for_statuses(pipeline.database_url, ids, statuses=("dead_lettered",))
    token = make_token("ops")
    wait_until(lambda: gateway.request("GET", "/v1/dlq", token).json()["matching"] == 8, what="the sink recorded 8")
    webhook_receiver.status = 200

    job, location = start_replay(gateway, token, {"channel": "webhook"})
    assert job["state"] == "queued" and job["selection"]["channel"] == "webhook" and job["requested_by"] == "ops"
    done = wait_for_job(gateway, token, location)
    assert (done["state"], done["matching"], done["replayed"], done["failed"]) == ("done", 8, 8, 0), done
    assert done["started_at"] and done["finished_at"] and done["failures"] == []
    wait_for_statuses(pipeline.database_url, ids, statuses=("sent",))
    replayed = wait_until(lambda: (got := [b["notification_id"] for b in webhook_receiver.bodies if b["replay"] == 1])
                          and len(got) >= 8 and got, what="8 replayed deliveries")
    assert sorted(replayed) == sorted(ids)

    again, location = start_replay(gateway, token, {"channel": "webhook"})
    rerun = wait_for_job(gateway, token, location)
    assert (rerun["state"], rerun["replayed"], rerun["skipped_already_replayed"]) == ("done", 0, 8)
    time.sleep(2)  # nothing more arrives
    assert sorted(b["notification_id"] for b in webhook_receiver.bodies if b["replay"] == 1) == sorted(ids)

    # A job is visible to tokens that may see everything it replayed: this one, to "*" tokens only.
    assert gateway.request("GET", location, make_token("acme", tenants=["acme"])).status_code == 404
    assert gateway.request("GET", "/v1/dlq/replays/00000000-0000-4000-8000-000000000000", token).status_code == 404
    assert gateway.request("GET", "/v1/dlq/replays/not-a-uuid", token).status_code == 422


def test_a_job_whose_gateway_stopped_is_reported_interrupted_and_a_rerun_finishes_it(start_gateway, pipeline):
    dead = DeadLetters(pipeline)
    messages = [dead.channel(channel_message("webhook")) for _ in range(10)]
    dead.flush()
    token = make_token("ops")
    first, second = start_gateway(), start_gateway()
    job, location = start_replay(first, token, {"rate": 2})
    wait_until(lambda: second.request("GET", location, token).json()["replayed"] >= 1, what="a first message replayed")
    first.close()  # as on SIGTERM: the job stops after its current message

    stopped = second.request("GET", location, token).json()
    assert stopped["state"] == "failed" and "interrupted" in stopped["error"], stopped
    assert 1 <= stopped["replayed"] < 10

    rerun = wait_for_job(second, token, start_replay(second, token, {})[1])
    assert rerun["state"] == "done" and rerun["replayed"] + stopped["replayed"] == 10, rerun
    assert rerun["skipped_already_replayed"] == stopped["replayed"]
    origin = Topics(pipeline.topic_prefix).channel("webhook", "high")
    assert replays_on(pipeline, origin) == Counter({m["delivery_id"]: 1 for m in messages})


def test_a_job_whose_gateway_was_killed_is_reported_interrupted_by_another_gateway(gateway, pipeline, tmp_path):
    dead = DeadLetters(pipeline)
    messages = [dead.channel(channel_message("webhook")) for _ in range(10)]
    dead.flush()
    token = make_token("ops")
    port = free_port()
    env = {**os.environ, "TIDINGS_BOOTSTRAP_SERVERS": pipeline.bootstrap_servers,
           "TIDINGS_TOPIC_PREFIX": pipeline.topic_prefix, "TIDINGS_DATABASE_URL": pipeline.database_url,
           "TIDINGS_GATEWAY_HOST": "127.0.0.1", "TIDINGS_GATEWAY_PORT": str(port),
           "TIDINGS_GATEWAY_JWT_SECRET": SECRET, "TIDINGS_GATEWAY_JWT_ISSUER": ISSUER,
           "TIDINGS_GATEWAY_JWT_AUDIENCE": AUDIENCE}
    with open(tmp_path / "gateway.log", "wb") as log:
        other = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "gateway"], env=env, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "the second gateway up")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/dlq/replay", data=b'{"rate": 2}', method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 202
            location = answer.headers["Location"]
        wait_until(lambda: gateway.request("GET", location, token).json()["replayed"] >= 1, what="a replayed message")
        other.send_signal(signal.SIGKILL)
        other.wait(30)
    finally:
        if other.poll() is None:
            other.kill()

    killed = gateway.request("GET", location, token).json()
    assert killed["state"] == "failed" and "interrupted" in killed["error"], killed
    with psycopg.connect(pipeline.database_url) as conn:
        recorded = conn.execute("SELECT count(*) FROM dlq_replays").fetchone()[0]
    assert 1 <= recorded < 10

    rerun = wait_for_job(gateway, token, start_replay(gateway, token, {})[1])
    assert rerun["state"] == "done" and rerun["skipped_already_replayed"] == recorded, rerun
    origin = Topics(pipeline.topic_prefix).channel("webhook", "high")
    sent = replays_on(pipeline, origin)
    assert set(sent) == {m["delivery_id"] for m in messages}
    assert sum(sent.values()) - len(messages) <= 1, f"{sent} (at most the one acknowledged but not yet recorded)"
