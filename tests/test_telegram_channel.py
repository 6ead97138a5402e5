"""The Telegram channel end to end: router, `tidings run channel telegram` and sink as processes, a
fake Bot API on loopback. Plain and template-rendered HTML messages are sent and recorded `sent`
with Telegram's message id; a chat that does not exist is dead-lettered; a user who blocked the bot
is `suppressed`, an opt-out is recorded for them, and the router suppresses their next notification
without it reaching Telegram. The bot token shows up in no row and no log line."""
from __future__ import annotations

import json

import psycopg
import pytest

from router.template_store import TemplateStore
from router.templates import Renderer
from tests.fixtures.telegram import BLOCKED, TOKEN, FakeTelegram
from tests.pipeline import make_notifications, publish, read_topic, wait_for_statuses

BLOCKER = "555000111"


@pytest.fixture
def telegram():
    server = FakeTelegram()
    server.chats.add(BLOCKER)
    server.blocked[BLOCKER] = BLOCKED
    yield server
    server.close()


def telegram_notification(recipient: str, chat: str, priority: str = "NORMAL", **content) -> dict:
    [notification] = make_notifications(1, "", channels=("telegram",))
    notification["priority"] = priority
    notification["recipient"].update({"id": recipient, "addresses": {"telegram": chat}, "webhook_url": None})
    notification["content"] = {"telegram": {"template": None, "subject": None, "text": None, "html": None,
                                            "options": "{}", **content}}
    return notification


def test_messages_are_sent_refusals_dead_lettered_and_a_blocked_bot_is_an_opt_out(pipeline, services, telegram):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn, Renderer()).push([{"name": "alert", "parts": {"telegram": {"default": {
            "subject": "Alert on {{ host }}", "text": "{{ host }} at {{ level }}",
            "html": "<b>Host:</b> {{ host }}\n<i>level</i> {{ level }}"}}}, "sample": {"host": "h", "level": "1"}}])
    env = {"TIDINGS_TELEGRAM_BOT_TOKEN": TOKEN, "TIDINGS_TELEGRAM_API_BASE": telegram.base,
           "TIDINGS_TELEGRAM_ALLOWED_TARGETS": "127.0.0.0/8"}
    _, worker, _ = services.start_pipeline("telegram", **env)

    plain = telegram_notification("user-plain", "123456789", "LOW", subject="Deploy finished", text="api is live")
    rendered = telegram_notification("user-group", "-1001234567890", template={"name": "alert", "version": None})
    rendered["data"] = json.dumps({"host": "web<1> & co", "level": "97%"})
    unknown = telegram_notification("user-gone", "42424242", text="hello?")
    blocked = telegram_notification("user-blocker", BLOCKER, text="first")
    publish(pipeline, [plain, rendered, unknown, blocked])

    wait_for_statuses(pipeline.database_url, [plain["id"], rendered["id"]], timeout=120)
    wait_for_statuses(pipeline.database_url, [unknown["id"]], statuses=("dead_lettered",), timeout=60)
    wait_for_statuses(pipeline.database_url, [blocked["id"]], statuses=("suppressed",), timeout=60)
    by_text = {s["seen"]: s for s in telegram.sent}
    assert by_text["Deploy finished\napi is live"]["disable_notification"] is True  # LOW: silent
    html = by_text["Alert on web<1> & co\nHost: web<1> & co\nlevel 97%"]  # data escaped, shown as written
    assert html["parse_mode"] == "HTML" and html["disable_notification"] is False
    assert html["text"] == ("<b>Alert on web&lt;1&gt; &amp; co</b>\n<b>Host:</b> web&lt;1&gt; &amp; co\n"
                            "<i>level</i> 97%")

    with psycopg.connect(pipeline.database_url) as conn:
        rows = {n: row for n, *row in conn.execute(
            "SELECT notification_id::text, status, provider, status_code, provider_message_id, error_class, reason "
            "FROM deliveries").fetchall()}
        preferences = conn.execute("SELECT recipient_id, channel, category, enabled, source FROM preferences"
                                   ).fetchall()
    assert rows[plain["id"]][:4] == ["sent", "telegram", 200, rows[plain["id"]][3]]
    assert {rows[plain["id"]][3], rows[rendered["id"]][3]} == {"101", "102"}  # Telegram's message ids
    assert rows[unknown["id"]] == ["dead_lettered", "telegram", 400, None, "telegram_chat_not_found",
                                   rows[unknown["id"]][5]]
    assert rows[blocked["id"]] == ["suppressed", "telegram", 403, None, None, "opted_out"]
    assert preferences == [("user-blocker", "telegram", "*", False, "provider:telegram")]

    # The next one for that recipient is suppressed by the router: it never reaches Telegram.
    again = telegram_notification("user-blocker", BLOCKER, text="second")
    publish(pipeline, [again])
    wait_for_statuses(pipeline.database_url, [again["id"]], statuses=("suppressed",), timeout=60)
    with psycopg.connect(pipeline.database_url) as conn:
        row = conn.execute("SELECT provider, reason FROM deliveries WHERE notification_id = %s", [again["id"]]
                           ).fetchone()
        every_row = conn.execute("SELECT d::text FROM deliveries d").fetchall()
        every_event = conn.execute("SELECT e::text FROM delivery_events e").fetchall()
    assert row == (None, "opted_out") and telegram.attempts.count(BLOCKER) == 1
    assert TOKEN not in repr(every_row) + repr(every_event) and TOKEN not in worker.log()
    # Nor in the dead letter (its value and every header), the delivery events, or the metrics.
    [dead] = read_topic(pipeline, f"{pipeline.topic_prefix}.dlq")
    kept = [dead.value(), *(value for _, value in dead.headers() or ())]
    kept += [m.value() for m in read_topic(pipeline, f"{pipeline.topic_prefix}.deliveries")]
    assert any(b"chat not found" in k for k in kept if k)  # what is read holds the failure's text
    assert not any(TOKEN.encode() in k for k in kept if k)
    status, metrics = worker.get("/metrics")
    assert status == 200 and "tidings_" in metrics and TOKEN not in metrics
