"""The inbox provider against a real Postgres: a message written twice (a redo) is one item and two
`Delivered`; its announcement reaches a listener; Postgres away is the worker's outage, not the
message's failure."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from channels.inapp.inbox import NOTIFY_CHANNEL
from channels.inapp.provider import InboxProvider
from consumer.outages import dependency_of
from consumer.outcomes import Delivered, Permanent
from consumer.settings import Settings
from tracking.migrate import migrate


def message(**more) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "inapp",
            "priority": "HIGH", "created_at": datetime.now(timezone.utc), "source": "tests", "tenant": "acme",
            "category": "reports", "recipient_id": "ada", "address": "ada", "subject": "Ready", "text": "v42",
            "html": None, "template": None, "data": "{}", "expires_at": None, "attempt": 1, "replay": 0,
            "options": "{}", **more}


async def send_all(settings: Settings, *messages: dict) -> list:
    provider = InboxProvider(settings)
    await provider.start()
    try:
        return [await provider.send(m) for m in messages]
    finally:
        await provider.close()


def test_a_redone_message_is_one_item_and_is_announced(database_url):
    migrate(database_url)
    first = message(options=json.dumps({"title": "Report", "body": "# Q3", "format": "markdown"}))
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        outcomes = asyncio.run(send_all(Settings(database_url=database_url), first, dict(first)))
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert outcomes[0].provider_message_id is not None and outcomes[1].provider_message_id is None
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT title, body, body_html, priority FROM inbox_items").fetchall()
    assert rows == [("Report", "# Q3", "<h1>Q3</h1>\n", "HIGH")]
    assert json.loads(notes[0].payload) == {"t": "acme", "r": "ada", "seq": int(outcomes[0].provider_message_id)}


def test_an_item_too_large_is_permanent_and_postgres_away_holds_the_worker(database_url):
    migrate(database_url)
    [large] = asyncio.run(send_all(Settings(database_url=database_url, inapp_max_body_chars=10),
                                   message(text="x" * 11)))
    assert isinstance(large, Permanent) and large.error_class == "inbox_too_large"

    async def unreachable():
        provider = InboxProvider(Settings(database_url="postgresql://127.0.0.1:1/none?connect_timeout=1"))
        provider.pool.timeout = 1.0
        await provider.start()
        try:
            await provider.send(message())
        finally:
            await provider.close()
    with pytest.raises(psycopg.OperationalError) as raised:
        asyncio.run(unreachable())
    assert dependency_of(raised.value) == "postgres"
