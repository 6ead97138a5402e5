"""The gateway in front of the real pipeline (router, webhook channel, sink as processes): what was
posted reaches the receiver, its timeline and the statistics come back over HTTP, and a dead letter
is listed and replayed over HTTP until delivered."""
from __future__ import annotations

import time

from tests.gateway.conftest import make_token
from tests.gateway.test_dlq_replay_jobs import start_replay, wait_for_job
from tests.pipeline import wait_for_statuses


def webhook_notification(url: str, recipient: str) -> dict:
    return {"channels": ["webhook"], "recipient": {"id": recipient, "webhook_url": url},
            "content": {"default": {"subject": "Deploy finished", "text": "v42 is live"}}, "data": {"build": 42}}


def wait_until(check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_posted_then_delivered_then_timeline_stats_and_dlq_replay(gateway, services, pipeline, webhook_receiver):
    services.start_pipeline("webhook")
    token = make_token("deployer")
    posted = gateway.request("POST", "/v1/notifications", token, json=webhook_notification(webhook_receiver.url, "ops"))
    assert posted.status_code == 202
    notification_id = posted.json()["id"]
    webhook_receiver.wait_for(1)
    assert webhook_receiver.bodies[0]["notification_id"] == notification_id
    assert webhook_receiver.bodies[0]["source"] == "deployer"
    wait_for_statuses(pipeline.database_url, [notification_id])

    timeline = gateway.request("GET", f"/v1/notifications/{notification_id}", token).json()
    assert timeline["notification_id"] == notification_id
    assert [e["status"] for e in timeline["events"]][-1] == "sent"
    assert timeline["status"]["status"] == "delivered"
    assert gateway.request("GET", "/v1/notifications/00000000-0000-4000-8000-000000000000", token).status_code == 404
    assert gateway.request("GET", "/v1/notifications/not-a-uuid", token).status_code == 422
    stats = gateway.request("GET", "/v1/stats", token, params={"since": "1h", "by": "channel"})
    assert stats.status_code == 200, stats.text
    assert stats.json()["totals"]["delivered"] == 1
    assert gateway.request("GET", "/v1/stats", token, params={"by": "colour"}).json()["field"] == "by"

    # A refusing receiver dead-letters the next one; the DLQ is listed and replayed over HTTP.
    webhook_receiver.status = 404
    failed = gateway.request("POST", "/v1/notifications", token, json=webhook_notification(webhook_receiver.url, "qa"))
    failed_id = failed.json()["id"]
    wait_for_statuses(pipeline.database_url, [failed_id], statuses=("dead_lettered",))
    listed = wait_until(lambda: (r := gateway.request("GET", "/v1/dlq", token).json())["matching"] and r)
    assert listed["samples"][0]["notification_id"] == failed_id
    assert listed["groups"] == [{"channel": "webhook", "error_class": "http_404", "count": 1}]
    dry = gateway.request("POST", "/v1/dlq/replay", token, json={"channel": "webhook", "dry_run": True}).json()
    assert (dry["would_replay"], dry["replayed"]) == (1, 0)
    webhook_receiver.status = 200
    replayed = wait_for_job(gateway, token, start_replay(gateway, token, {"channel": "webhook"})[1])
    assert replayed["state"] == "done" and replayed["replayed"] == 1, replayed
    wait_for_statuses(pipeline.database_url, [failed_id])
    assert webhook_receiver.notification_ids()[failed_id] >= 1
    again = wait_for_job(gateway, token, start_replay(gateway, token, {"channel": "webhook"})[1])
    assert (again["replayed"], again["skipped_already_replayed"]) == (0, 1)
