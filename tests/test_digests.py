"""Digests on the real broker, Postgres and receiver (test tiers 1s,2s): notifications with the same
recipient, channel and digest key within the window reach the receiver as one message rendered by
their template with `digest.count` and `digest.events`; another key, a category rule and a digest
that fills up (closing early) each get their own; and with the router and the worker killed
(SIGKILL, nothing committed) while a digest is open, it still goes out exactly once."""
from __future__ import annotations

import json
import time

import psycopg

from router.template_store import TemplateStore
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import events_of, wait_for_events

COMMENTS = {"name": "comments", "sample": {"comment": "x"}, "parts": {"webhook": {"default": {"body": (
    '{"notification_id": {{ notification.id|tojson }}, {% if digest is defined %}"count": {{ digest.count }}, '
    '"comments": [{% for i in digest.events %}{{ i.data.comment|tojson }}{% if not loop.last %}, {% endif %}'
    '{% endfor %}]{% else %}"comment": {{ comment|tojson }}{% endif %}}')}}}}


def burst(url: str, count: int, recipient: str, digest: dict | None = None, category: str = "test",
          template: bool = False) -> list[dict]:
    notifications = make_notifications(count, url)
    for i, n in enumerate(notifications):
        n["priority"], n["recipient"]["id"], n["category"], n["digest"] = "NORMAL", recipient, category, digest
        n["data"] = json.dumps({"comment": f"c{i}"})
        if template:
            n["content"] = {"default": {"template": {"name": "comments", "version": None}, "subject": None,
                                        "text": None, "html": None}}
    return notifications


def digests_of(database_url: str, recipient: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT digest_id::text, digest_key, item_count, closed_at IS NOT NULL FROM digests "
                            "WHERE recipient_id = %s ORDER BY opened_at", [recipient]).fetchall()


def test_a_burst_folds_into_one_rendered_digest_per_key_rule_and_size(pipeline, services, webhook_receiver):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([COMMENTS])
    services.start("run", "router", wait=False, TIDINGS_DIGEST_RULES="weekly=3s", TIDINGS_DIGEST_MAX_ITEMS="4")
    services.start("run", "channel", "webhook", wait=False)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()
    comments = burst(webhook_receiver.url, 3, "ada", {"key": "comments", "window_ms": 3000}, template=True)
    likes = burst(webhook_receiver.url, 2, "ada", {"key": "likes", "window_ms": 3000})
    weekly = burst(webhook_receiver.url, 2, "ada", category="weekly")  # folded by the rule
    full = burst(webhook_receiver.url, 4, "bob", {"key": "comments", "window_ms": 600_000})  # closes at 4 items
    alone = burst(webhook_receiver.url, 1, "ada")  # no digest: goes at once
    folded = comments + likes + weekly + full
    started = time.monotonic()
    publish(pipeline, folded + alone)

    for n in folded:
        record = wait_for_events(pipeline.database_url, n["id"], "digested")[0]
        assert record[:3] == ("digested", "router", "digest")
    wait_for_statuses(pipeline.database_url, [n["id"] for n in folded + alone], timeout=90)
    assert time.monotonic() - started < 120  # the full one did not wait for its 10-minute window
    counts = webhook_receiver.notification_ids()
    assert counts[alone[0]["id"]] == 1 and not any(counts[n["id"]] for n in folded)
    bodies = {b["notification_id"]: b for b in webhook_receiver.bodies}
    assert len(bodies) == 5 and all(c == 1 for c in counts.values())  # alone + four digests, each once

    ada = {key: (digest_id, count, closed) for digest_id, key, count, closed in digests_of(pipeline.database_url, "ada")}
    assert set(ada) == {"comments", "likes", "weekly"} and all(closed for _, _, closed in ada.values())
    rendered = bodies[ada["comments"][0]]  # the template, with the count and each item in order
    assert rendered["count"] == 3 and rendered["comments"] == ["c0", "c1", "c2"]
    assert bodies[ada["likes"][0]]["text"] == "2 new notifications: n0; n1"  # no template: the default text
    assert ada["weekly"][1] == 2
    ((bob_id, _, count, closed),) = digests_of(pipeline.database_url, "bob")
    assert (count, closed) == (4, True) and bodies[bob_id]["text"].startswith("4 new notifications")
    assert [e[0] for e in events_of(pipeline.database_url, comments[0]["id"])] == ["digested", "sent"]
    assert [e[0] for e in events_of(pipeline.database_url, ada["comments"][0])] == ["sent"]


def test_kill_9_of_router_and_worker_while_a_digest_is_open_sends_it_exactly_once(
        pipeline, services, webhook_receiver):
    never = {"TIDINGS_COMMIT_INTERVAL_MS": "600000"}  # nothing committed: both redo everything
    router = services.start("run", "router", wait=False, **never)
    channel = services.start("run", "channel", "webhook", wait=False, **never)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()
    pending = burst(webhook_receiver.url, 3, "cy", {"key": "comments", "window_ms": 8000})
    publish(pipeline, pending)
    for n in pending:
        wait_for_events(pipeline.database_url, n["id"], "digested")
    deadline = time.monotonic() + 30
    while channel.metric("tidings_held_messages_total", outcome="wait") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker has taken (and re-parked) a leg of the close marker
    assert channel.metric("tidings_held_messages_total", outcome="wait") >= 1
    router.kill()
    channel.kill()
    assert not webhook_receiver.bodies

    services.start("run", "router", wait=False)
    services.start("run", "channel", "webhook", wait=False)
    for process in services.started[-2:]:
        process.wait_assigned()
    wait_for_statuses(pipeline.database_url, [n["id"] for n in pending], timeout=90)
    marker = burst(webhook_receiver.url, 1, "cy", {"key": "late", "window_ms": 3000})  # due after every copy
    publish(pipeline, marker)
    wait_for_statuses(pipeline.database_url, [marker[0]["id"]], timeout=90)
    ((digest_id, _, count, closed), _) = digests_of(pipeline.database_url, "cy")
    assert (count, closed) == (3, True)
    assert webhook_receiver.notification_ids()[digest_id] == 1
    assert webhook_receiver.bodies[0]["text"] == "3 new notifications: n0; n1; n2"
    with psycopg.connect(pipeline.database_url) as conn:
        sent = conn.execute("SELECT count(*) FROM delivery_events WHERE notification_id = %s AND status = 'sent'",
                            [digest_id]).fetchone()[0]
    assert sent == 1
