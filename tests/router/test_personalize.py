"""The router's personalisation step in-process on a real Postgres: the plan it makes for each
event, and that it survives a dropped database connection."""
from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from consumer.events import utcnow
from consumer.settings import Settings
from router.personalize import Personalizer
from router.preferences import Preferences
from router.recipients import RecipientDirectory
from router.template_store import TemplateStore
from tracking.migrate import migrate


def event(recipient_id: str, channels=("sms",), category="general", template="code") -> dict:
    return {"id": str(uuid.uuid4()), "created_at": utcnow(), "priority": "URGENT", "source": "t", "tenant": "t",
            "category": category, "channels": list(channels),
            "recipient": {"id": recipient_id, "email": None, "phone": None, "slack": None, "webhook_url": None,
                          "locale": None, "timezone": None},
            "content": {"default": {"template": {"name": template, "version": None} if template else None,
                                    "subject": None, "text": "inline", "html": None, "options": "{}"}},
            "data": json.dumps({"code": "123"}), "expires_at": None, "idempotency_key": None}


@pytest.fixture
def personalizer(database_url):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        TemplateStore(conn).push([{"name": "code", "sample": {"code": "1"},
                                   "parts": {"sms": {"default": {"text": "Code {{ code }} ({{ notification.priority }})"}}}}])
        RecipientDirectory(conn).upsert([{"id": "u1", "phone": "+14155550100"}, {"id": "u2", "phone": "+14155550101"}])
        Preferences(conn).set("u2", enabled=False)
    made = Personalizer.from_settings(Settings(database_url=database_url, critical_categories="security, fraud"))
    yield made
    made.close()


def test_plans_resolve_suppress_bypass_and_render(personalizer):
    plans = personalizer.plan([event("u1"), event("u2"), event("u2", category="fraud"), event("nobody")])
    (sent,), (opted,), (critical,), (missing,) = (p.deliveries for p in plans)
    assert (sent.message["address"], sent.message["text"], sent.message["template"]) == ("+14155550100", "Code 123 (urgent)", "code@1")
    assert opted.suppressed == "opted_out" and critical.suppressed is None
    assert missing.suppressed == "no_address"
    assert all(p.failure is None for p in plans)


def test_a_dropped_connection_is_replaced(personalizer, database_url):
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [personalizer.conn.info.backend_pid])
    (plan,) = personalizer.plan([event("u1")])
    assert plan.deliveries[0].message["text"] == "Code 123 (urgent)"


def test_without_a_database_inline_content_is_planned_and_templates_fail():
    personalizer = Personalizer.from_settings(Settings())
    inline = event("x", template=None)
    inline["recipient"]["phone"] = "+14155550100"
    templated = {**inline, "content": event("x")["content"]}
    ok, failed = personalizer.plan([inline, templated])
    assert ok.failure is None and ok.deliveries[0].message["text"] == "inline"
    assert failed.failure.kind == "template_not_found" and "TIDINGS_DATABASE_URL" in str(failed.failure)
