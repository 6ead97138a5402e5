"""`timeline` and `notification_status` on a real Postgres: one notification's email and SMS
deliveries, every event in order per channel, and the notification's folded status."""
from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from tests.tracking.test_stats_v2 import at, story
from tests.tracking.test_store import event, record
from tracking.migrate import migrate
from tracking.timeline import notification_status, timeline, timeline_async


@pytest.fixture
def notification(database_url) -> tuple[str, str]:
    migrate(database_url)
    notification_id = str(uuid.uuid4())
    email = [{**e, "notification_id": notification_id} for e in story(uuid.uuid4())]
    sms = uuid.uuid4()
    record(database_url, email + [
        event(sms, "queued", notification_id=notification_id, channel="sms"),
        event(sms, "sent", seconds=3, attempt=1, notification_id=notification_id, channel="sms",
              provider="twilio", cost=0.0079, cost_currency="USD"),
        event(uuid.uuid4(), "queued", notification_id=str(uuid.uuid4())),  # someone else's
    ])
    return database_url, notification_id


def test_timeline_lists_every_event_per_channel_in_order(notification):
    url, notification_id = notification
    with psycopg.connect(url) as conn:
        events = timeline(conn, notification_id)
    assert [(e["channel"], e["status"], e["attempt"]) for e in events] == [
        ("email", "queued", 0),
        ("email", "retry_scheduled", 1), ("email", "retry_scheduled", 2),
        ("email", "dead_lettered", 3), ("email", "replayed", 3), ("email", "sent", 1),
        ("sms", "queued", 0), ("sms", "sent", 1)]
    retries = [e for e in events if e["status"] == "retry_scheduled"]
    assert [(e["retry_tier"], e["due_at"], e["status_code"], e["error_class"]) for e in retries] == [
        ("1s", at(2).isoformat(), 503, "Transient"), ("2s", at(4).isoformat(), 503, "Transient")]
    dead = next(e for e in events if e["status"] == "dead_lettered")
    assert (dead["stage"], dead["error_message"]) == ("channel-email", "tiers exhausted")
    assert [e["replay"] for e in events if e["channel"] == "email"][-2:] == [1, 1]
    sms_sent = events[-1]
    assert (sms_sent["provider"], sms_sent["cost"], sms_sent["cost_currency"]) == ("twilio", 0.0079, "USD")


def test_notification_status_folds_its_deliveries(notification):
    url, notification_id = notification
    with psycopg.connect(url) as conn:
        summary = notification_status(conn, notification_id)
        assert notification_status(conn, uuid.uuid4()) is None
    assert (summary["status"], summary["deliveries"], summary["sent"]) == ("delivered", 2, 2)


def test_pending_and_partial_notifications(database_url):
    migrate(database_url)
    pending, partial = str(uuid.uuid4()), str(uuid.uuid4())
    record(database_url, [
        event(uuid.uuid4(), "sent", notification_id=pending, channel="email"),
        event(uuid.uuid4(), "retry_scheduled", notification_id=pending, channel="sms", retry_tier="10s"),
        event(uuid.uuid4(), "sent", notification_id=partial, channel="email"),
        event(uuid.uuid4(), "dead_lettered", notification_id=partial, channel="sms"),
    ])
    with psycopg.connect(database_url) as conn:
        assert notification_status(conn, pending)["status"] == "pending"
        summary = notification_status(conn, partial)
    assert (summary["status"], summary["sent"], summary["failed"]) == ("partially_delivered", 1, 1)


def test_async_timeline_matches(notification):
    url, notification_id = notification

    async def go():
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await timeline_async(conn, notification_id)

    with psycopg.connect(url) as conn:
        assert asyncio.run(go()) == timeline(conn, notification_id)


def test_a_bad_id_is_a_clear_error(database_url):
    with psycopg.connect(database_url) as conn:
        with pytest.raises(ValueError, match="'not-a-uuid' is not a notification id"):
            timeline(conn, "not-a-uuid")


def test_the_view_knows_the_same_final_statuses_as_the_sink(database_url):
    """notification_status (SQL, migration 008) and consumer.statuses (Python) must agree."""
    from consumer.statuses import FINAL_STATUSES, STATUSES

    migrate(database_url)
    ids = {status: str(uuid.uuid4()) for status in STATUSES}
    record(database_url, [event(uuid.uuid4(), status, notification_id=ids[status]) for status in STATUSES])
    with psycopg.connect(database_url) as conn:
        for status, notification_id in ids.items():
            folded = notification_status(conn, notification_id)["status"]
            assert (folded != "pending") == (status in FINAL_STATUSES), (status, folded)
