"""The Teams channel end to end: router, `tidings run channel teams` and sink as processes, a fake
Teams on loopback. A notification with inline content and one rendered from a template's `card`
part are posted as Adaptive Cards and recorded `sent`; a workflow that no longer exists is
dead-lettered with Teams' reason, and the one behind it on the same key is still delivered."""
from __future__ import annotations

import json

import psycopg
import pytest

from router.template_store import TemplateStore
from router.templates import Renderer
from tests.fixtures.teams import LOOPBACK_ENV, FakeTeams
from tests.pipeline import make_notifications, publish, wait_for_statuses

CARD = {"type": "AdaptiveCard", "body": [
    {"type": "TextBlock", "text": "Invoice {{ invoice.number }}", "weight": "Bolder"},
    {"type": "FactSet", "facts": [{"title": "Total", "value": "{{ invoice.total }}"}]}]}


@pytest.fixture
def teams():
    server = FakeTeams()
    yield server
    server.close()


def teams_notifications(count: int, address: str) -> list[dict]:
    notifications = make_notifications(count, address, channels=("teams",))
    for n in notifications:
        n["recipient"]["addresses"] = {"teams": address}
        n["recipient"]["webhook_url"] = None
        n["content"] = {"teams": {"template": None, "subject": "Deploy finished", "text": "**api** is live",
                                  "html": None, "options": "{}"}}
    return notifications


def test_cards_are_posted_tracked_and_failures_dead_lettered(pipeline, services, teams):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn, Renderer()).push([{"name": "invoice", "parts": {"teams": {"default": {
            "subject": "Invoice {{ invoice.number }}", "card": json.dumps(CARD)}}},
            "sample": {"invoice": {"number": "INV-1", "total": "12.50"}}}])
    services.start_pipeline("teams", **LOOPBACK_ENV)

    inline = teams_notifications(2, teams.workflow_url())
    rendered = teams_notifications(1, teams.webhook_url())[0]
    rendered["content"] = {"teams": {"template": {"name": "invoice", "version": None}, "subject": None, "text": None,
                                     "html": None, "options": "{}"}}
    rendered["data"] = json.dumps({"invoice": {"number": "INV-7", "total": "99.00"}})
    gone, behind = teams_notifications(2, teams.workflow_url("deleted"))
    behind["recipient"]["addresses"] = {"teams": teams.workflow_url()}
    for n in (gone, behind):
        n["recipient"]["id"] = "same-key"  # one partition: the second waits behind the first
    teams.deleted.add("deleted")
    publish(pipeline, [*inline, rendered, gone, behind])

    sent = [n["id"] for n in (*inline, rendered, behind)]
    wait_for_statuses(pipeline.database_url, sent, timeout=120)
    wait_for_statuses(pipeline.database_url, [gone["id"]], statuses=("dead_lettered",), timeout=60)
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT provider, status, status_code, error_class FROM deliveries WHERE notification_id"
                            " = %s", [gone["id"]]).fetchall()
    assert rows == [("teams", "dead_lettered", 404, "teams_webhook_gone")]
    texts = [[block.get("text") for block in card["body"]] for card in teams.cards]
    assert texts.count(["Deploy finished", "**api** is live"]) == 3
    invoice = next(card for card in teams.cards if card["body"][0].get("text") == "Invoice INV-7")
    assert invoice["body"][1]["facts"] == [{"title": "Total", "value": "99.00"}]
