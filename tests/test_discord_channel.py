"""The Discord channel end to end: router, `tidings run channel discord` and sink as processes, a fake
Discord on loopback. A notification with inline text and one rendered from a template's text and
`embeds` parts are posted to their webhooks and recorded `sent` with Discord's message id; a webhook
that was deleted is dead-lettered with Discord's reason, and the one behind it on the same key is
still delivered."""
from __future__ import annotations

import json

import psycopg
import pytest

from router.template_store import TemplateStore
from router.templates import Renderer
from tests.fixtures.discord import LOOPBACK_ENV, FakeDiscord
from tests.pipeline import make_notifications, publish, wait_for_statuses

EMBEDS = [{"title": "Invoice {{ invoice.number }}", "color": 5814783,
           "fields": [{"name": "Total", "value": "{{ invoice.total }}", "inline": True}]}]


@pytest.fixture
def discord():
    server = FakeDiscord()
    yield server
    server.close()


def discord_notifications(count: int, address: str) -> list[dict]:
    notifications = make_notifications(count, address, channels=("discord",))
    for n in notifications:
        n["recipient"]["addresses"] = {"discord": address}
        n["recipient"]["webhook_url"] = None
        n["content"] = {"discord": {"template": None, "subject": None, "text": f"Deploy {n['id']} is live",
                                    "html": None, "options": json.dumps({"username": "Deploys"})}}
    return notifications


def test_messages_are_posted_tracked_and_a_gone_webhook_dead_lettered(pipeline, services, discord):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn, Renderer()).push([{"name": "invoice", "parts": {"discord": {"default": {
            "text": "Invoice for {{ customer }}", "embeds": json.dumps(EMBEDS)}}},
            "sample": {"customer": "Ada", "invoice": {"number": "INV-1", "total": "12.50"}}}])
    services.start_pipeline("discord", **LOOPBACK_ENV)

    inline = discord_notifications(2, discord.webhook_url())
    rendered = discord_notifications(1, discord.webhook_url("334455667788990011"))[0]
    rendered["content"] = {"discord": {"template": {"name": "invoice", "version": None}, "subject": None,
                                       "text": None, "html": None, "options": "{}"}}
    rendered["data"] = json.dumps({"customer": "@everyone", "invoice": {"number": "INV-7", "total": "99.00"}})
    gone, behind = discord_notifications(2, discord.webhook_url("445566778899001122"))
    behind["recipient"]["addresses"] = {"discord": discord.webhook_url()}
    for n in (gone, behind):
        n["recipient"]["id"] = "same-key"  # one partition: the second waits behind the first
    discord.deleted.add("445566778899001122")
    publish(pipeline, [*inline, rendered, gone, behind])

    sent = [n["id"] for n in (*inline, rendered, behind)]
    wait_for_statuses(pipeline.database_url, sent, timeout=120)
    wait_for_statuses(pipeline.database_url, [gone["id"]], statuses=("dead_lettered",), timeout=60)
    with psycopg.connect(pipeline.database_url) as conn:
        dead = conn.execute("SELECT provider, status, status_code, error_class, error_message FROM deliveries"
                            " WHERE notification_id = %s", [gone["id"]]).fetchall()
        ids = dict(conn.execute("SELECT notification_id::text, provider_message_id FROM deliveries"
                                " WHERE notification_id = ANY(%s::uuid[])", [sent]).fetchall())
    assert dead == [("discord", "dead_lettered", 404, "discord_webhook_gone", "Unknown Webhook (10015)")]

    by_text = {posted["body"].get("content"): posted for posted in discord.posted}
    for n in (*inline, behind):
        posted = by_text[f"Deploy {n['id']} is live"]
        assert ids[n["id"]] == posted["id"] and posted["body"]["username"] == "Deploys"
    invoice = by_text["Invoice for @everyone"]
    assert ids[rendered["id"]] == invoice["id"] and invoice["webhook_id"] == "334455667788990011"
    assert invoice["body"]["embeds"] == [{"title": "Invoice INV-7", "color": 5814783,
                                          "fields": [{"name": "Total", "value": "99.00", "inline": True}]}]
    assert invoice["body"]["allowed_mentions"] == {"parse": []}  # the data's @everyone pings nobody
    assert len(discord.posted) == 4
