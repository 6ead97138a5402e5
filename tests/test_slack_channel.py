"""The Slack channel end to end: router -> `tidings run channel slack` -> a fake Slack that
speaks the real Web API, with thread replies across notifications and Postgres tracking."""
from __future__ import annotations

import json
import time

import psycopg

from tests.fixtures.slack import TOKEN
from tests.pipeline import make_notifications, publish, wait_for_statuses


def slack_notification(webhook_url: str, target: str, **options) -> dict:
    (notification,) = make_notifications(1, webhook_url, channels=("slack",))
    notification["recipient"]["slack"] = target
    notification["content"] = {"slack": {"template": None, "subject": "Deploy", "text": "v1.2 is live",
                                         "html": None, "options": json.dumps(options)}}
    return notification


def test_thread_replies_and_errors_through_the_pipeline(pipeline, services, fake_slack):
    env = {"TIDINGS_SLACK_API_URL": f"{fake_slack.base}/api", "TIDINGS_SLACK_BOT_TOKEN": TOKEN,
           "TIDINGS_SLACK_PER_CHANNEL_PER_S": "0"}
    services.start("run", "router", wait=False)
    services.start("run", "channel", "slack", wait=False, **env)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()

    first = slack_notification("", "C0001", thread_key="incident-7", username="Deploy bot", icon_emoji=":rocket:")
    publish(pipeline, [first])
    wait_for_statuses(pipeline.database_url, [first["id"]])
    replies = [slack_notification("", "C0001", thread_key="incident-7") for _ in range(2)]
    unknown = slack_notification("", "C0999")
    publish(pipeline, replies + [unknown])
    wait_for_statuses(pipeline.database_url, [r["id"] for r in replies])
    wait_for_statuses(pipeline.database_url, [unknown["id"]], statuses=("dead_lettered",))

    root = fake_slack.posts[0]
    assert root["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert root["body"]["username"] == "Deploy bot" and "thread_ts" not in root["body"]
    deadline = time.monotonic() + 10
    while len(fake_slack.posts) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p["body"].get("thread_ts") for p in fake_slack.posts[1:]] == [root["ts"], root["ts"]]
    with psycopg.connect(pipeline.database_url) as conn:
        rows = dict(conn.execute("SELECT notification_id::text, provider_message_id FROM deliveries"
                                 " WHERE status = 'sent'").fetchall())
        providers = {p for (p,) in conn.execute("SELECT DISTINCT provider FROM deliveries WHERE status = 'sent'")}
        error = conn.execute("SELECT error_class FROM deliveries WHERE notification_id = %s",
                             [unknown["id"]]).fetchone()[0]
    assert rows[first["id"]] == root["ts"]  # the Slack ts is the provider message id
    assert error == "slack_channel_not_found"
    assert providers == {"slack-api"}
