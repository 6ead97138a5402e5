"""The Slack channel end to end: router -> `tidings run channel slack` -> a fake Slack that
speaks the real Web API, with thread replies across notifications and Postgres tracking."""
from __future__ import annotations

import json
import time

import psycopg

from tests.fixtures.slack import LOOPBACK_WEBHOOKS_ENV, TOKEN
from tests.pipeline import make_notifications, publish, wait_for_statuses


def slack_notification(webhook_url: str, target: str, **options) -> dict:
    (notification,) = make_notifications(1, webhook_url, channels=("slack",))
    notification["recipient"]["slack"] = target
    notification["content"] = {"slack": {"template": None, "subject": "Deploy", "text": "v1.2 is live",
                                         "html": None, "options": json.dumps(options)}}
    return notification


def test_thread_replies_and_errors_through_the_pipeline(pipeline, services, fake_slack):
    env = {"TIDINGS_SLACK_API_URL": f"{fake_slack.base}/api", "TIDINGS_SLACK_BOT_TOKEN": TOKEN,
           "TIDINGS_SLACK_PER_CHANNEL_PER_S": "0", **LOOPBACK_WEBHOOKS_ENV}
    services.start_pipeline("slack", **env)

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


def test_a_paced_slack_channel_does_not_hold_up_the_others(pipeline, services, fake_slack):
    env = {"TIDINGS_SLACK_API_URL": f"{fake_slack.base}/api", "TIDINGS_SLACK_BOT_TOKEN": TOKEN,
           "TIDINGS_SLACK_PER_CHANNEL_PER_S": "2", "TIDINGS_SLACK_MAX_PACING_WAIT_S": "1", **LOOPBACK_WEBHOOKS_ENV,
           # Few slots, which a queue waiting for its turns could fill: at 2/s and 1 s of waiting at most,
           # C0001 holds two and is deferred past that. With 4, each fetch crossed the backpressure bound
           # (3 of 4) and Tansu's slow resume after each pause spaced the lane's fetches by up to a second.
           "TIDINGS_MAX_IN_FLIGHT": "8", "TIDINGS_BATCH_SIZE": "8"}
    _, channel, _ = services.start_pipeline("slack", **env)
    # 24 posts at 2/s take at least 11.5 s; the quiet channel's three need 1 s once they are read,
    # which leaves room for the broker's slow resume after each backpressure pause on a loaded machine.
    busy = [slack_notification("", "C0001") for _ in range(24)]
    quiet = [slack_notification("", "C0002") for _ in range(3)]
    publish(pipeline, busy)
    publish(pipeline, quiet)
    wait_for_statuses(pipeline.database_url, [n["id"] for n in busy + quiet], timeout=90)

    posts = sorted(fake_slack.posts, key=lambda p: p["received_at"])
    busy_times = [p["received_at"] for p in posts if p["channel"] == "C0001"]
    quiet_times = [p["received_at"] for p in posts if p["channel"] == "C0002"]
    assert len(busy_times) == 24 and len(quiet_times) == 3
    assert max(quiet_times) < max(busy_times)  # C0002 did not wait for C0001's queue
    # Never faster than 2/s: the pacer spaces the starts of the sends 0.5 s apart, and a send reaches
    # the receiver a little later, the first one later still (it opens the connection): on a loaded
    # CI machine a single gap came out under 0.45 s. Any run of posts keeps its schedule within 0.15 s.
    assert all(busy_times[j] - busy_times[i] >= (j - i) * 0.5 - 0.15
               for i in range(len(busy_times)) for j in range(i + 1, len(busy_times)))
    assert channel.metric("tidings_deferred_total", reason="slack_paced") > 0


def test_bad_and_off_slack_webhook_urls_are_dead_lettered_and_the_next_one_is_posted(pipeline, services, fake_slack):
    """A 70-character host label stopped the Slack worker, and any host was posted to (issues 14, 15)."""
    env = {"TIDINGS_SLACK_API_URL": f"{fake_slack.base}/api", "TIDINGS_SLACK_BOT_TOKEN": TOKEN,
           "TIDINGS_SLACK_PER_CHANNEL_PER_S": "0", **LOOPBACK_WEBHOOKS_ENV}
    _, channel, _ = services.start_pipeline("slack", **env)
    # make_notifications(1, ...) gives each the same recipient id and lane: one key, in order.
    bad = [slack_notification("", "https://" + "a" * 70 + ".slack.com/services/T0/B0/good"),
           slack_notification("", "http://127.0.0.1:99999/services/T0/B0/good"),
           slack_notification("", fake_slack.webhook_url().replace("127.0.0.1", "localhost"))]
    good = slack_notification("", fake_slack.webhook_url())
    publish(pipeline, bad + [good])
    wait_for_statuses(pipeline.database_url, [good["id"]])
    wait_for_statuses(pipeline.database_url, [n["id"] for n in bad], statuses=("dead_lettered",))
    assert channel.process.poll() is None  # the worker never stopped
    assert [p["body"]["text"] for p in fake_slack.posts] == ["*Deploy*\nv1.2 is live"]
    assert fake_slack.requests == 1
    with psycopg.connect(pipeline.database_url) as conn:
        classes = dict(conn.execute(
            "SELECT notification_id::text, error_class FROM deliveries WHERE notification_id = ANY(%s::uuid[])",
            [[n["id"] for n in bad]]).fetchall())
    assert [classes[n["id"]] for n in bad] == ["invalid_url", "invalid_url", "invalid_address"]
