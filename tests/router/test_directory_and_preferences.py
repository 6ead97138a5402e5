"""RecipientDirectory and Preferences on a real Postgres, and the sink writing provider-side
opt-outs (an SMS STOP) into the same preferences table."""
from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from consumer.events import delivery_event, delivery_id, utcnow
from router.preferences import PreferenceInvalid, Preferences, opted_out
from router.recipients import RecipientDirectory, RecipientInvalid, resolve
from tracking.migrate import migrate
from tracking.store import DeliveryLog


@pytest.fixture
def conn(database_url):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def test_upsert_merges_fields_and_show_returns_them(conn):
    directory = RecipientDirectory(conn)
    assert directory.upsert([{"id": "u1", "email": "ada@example.com", "locale": "pt-BR", "timezone": "America/Sao_Paulo"},
                             {"id": "u2", "phone": "+14155550100"}]) == 2
    directory.upsert([{"id": "u1", "phone": "+447911123456", "locale": None}])  # absent fields are kept
    u1 = directory.show("u1")
    assert {k: u1[k] for k in ("email", "phone", "locale", "timezone")} == {
        "email": "ada@example.com", "phone": "+447911123456", "locale": None, "timezone": "America/Sao_Paulo"}
    assert directory.show("nobody") is None
    assert set(directory.lookup(["u1", "u2", "u3"])) == {"u1", "u2"}


@pytest.mark.parametrize("record, field", [
    ({"email": "a@b.c"}, "id"),
    ({"id": "x", "email": "not-an-address"}, "email"),
    ({"id": "x", "phone": "07911 123456"}, "phone"),
    ({"id": "x", "webhook_url": "ftp://x"}, "webhook_url"),
    ({"id": "x", "timezone": "Mars/Olympus"}, "timezone"),
    ({"id": "x", "email": "a@b.c\r\nBcc: z@z.z"}, "email"),
    ({"id": "x", "fax": "123"}, "unknown field"),
])
def test_invalid_records_are_refused_and_nothing_is_written(conn, record, field):
    with pytest.raises(RecipientInvalid, match=field):
        RecipientDirectory(conn).upsert([{"id": "fine", "email": "f@example.com"}, record])
    assert conn.execute("SELECT count(*) FROM recipients").fetchone()[0] == 0


def test_inline_values_win_over_the_directory():
    stored = {"id": "u1", "email": "dir@example.com", "phone": "+14155550100", "locale": "pt-BR", "timezone": "UTC",
              "slack": None, "webhook_url": None}
    inline = {"id": "u1", "email": "inline@example.com", "phone": None, "slack": None, "webhook_url": None,
              "locale": None}
    merged = resolve(inline, stored)
    assert (merged["email"], merged["phone"], merged["locale"], merged["timezone"], merged["slack"]) == (
        "inline@example.com", "+14155550100", "pt-BR", "UTC", None)


def test_preferences_most_specific_row_decides(conn):
    prefs = Preferences(conn, critical_categories=["security"])
    prefs.set("u1", channel="email", enabled=False)
    prefs.set("u1", channel="email", category="invoice", enabled=True)
    prefs.set("u1", category="marketing", enabled=False)
    rows = prefs.show("u1")
    assert len(rows) == 3 and all(r["source"] == "user" for r in rows)
    assert opted_out(rows, "email", "general")
    assert not opted_out(rows, "email", "invoice")  # channel x category beats channel
    assert opted_out(rows, "sms", "marketing") and not opted_out(rows, "sms", "general")
    assert opted_out(rows, "email", "marketing")  # channel off and category off
    prefs.set("u1", channel="email", enabled=True)  # --on replaces the row
    assert not opted_out(prefs.show("u1"), "email", "general")
    prefs.set("u2", enabled=False)  # everything off
    assert prefs.check("u2", "sms", "general") == {"deliver": False, "reason": "opted_out", "critical": False}
    assert prefs.check("u2", "sms", "security") == {"deliver": True, "reason": None, "critical": True}
    assert prefs.check("u3", "sms", "general")["deliver"]
    with pytest.raises(PreferenceInvalid):
        prefs.set("u1", channel="fax", enabled=False)


def _sms_event(recipient: str, status: str, reason: str | None, provider: str | None, at=None) -> dict:
    message = {"delivery_id": delivery_id(uuid.uuid4(), "sms"), "notification_id": str(uuid.uuid4()), "channel": "sms",
               "priority": "NORMAL", "recipient_id": recipient, "source": "t", "tenant": "t", "category": "promo"}
    return delivery_event(message, status, clock=lambda: at or utcnow(), attempt=1, reason=reason, provider=provider)


def test_the_sink_records_a_provider_opt_out_as_a_preference(conn, database_url):
    conn.execute("INSERT INTO preferences (recipient_id, channel, category, enabled, updated_at) "
                 "VALUES ('back-in', 'sms', '*', true, now() + interval '1 hour')")  # opted back in later

    async def record():
        async with await DeliveryLog.connect(database_url) as log:
            await log.record([_sms_event("stopped", "suppressed", "opted_out", "twilio"),
                              _sms_event("stopped", "suppressed", "opted_out", "twilio"),
                              _sms_event("router-side", "suppressed", "opted_out", None),
                              _sms_event("sent", "sent", None, "twilio"),
                              _sms_event("back-in", "suppressed", "opted_out", "twilio")])
    asyncio.run(record())
    rows = conn.execute("SELECT recipient_id, channel, category, enabled, source FROM preferences "
                        "ORDER BY recipient_id").fetchall()
    assert rows == [("back-in", "sms", "*", True, "user"), ("stopped", "sms", "*", False, "provider:twilio")]
    assert opted_out(Preferences(conn).show("stopped"), "sms", "anything")
