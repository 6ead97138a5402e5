"""Receipt statuses in the delivery log on a real Postgres: a receipt after `sent` becomes the
current status whatever order the events arrive in, the created-to-sent latency survives it, and
stats, the notification's status and its timeline show sent and delivered apart."""
from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest

from tests.tracking.test_store import T0, event, record
from tracking.migrate import migrate
from tracking.summary import delivery_stats
from tracking.timeline import notification_status, timeline


def sent_then(receipt: str | None, *, seconds: float = 3, notification_id=None, channel="sms", **fields) -> list[dict]:
    delivery = uuid.uuid4()
    events = [event(delivery, "queued", notification_id=notification_id, channel=channel),
              event(delivery, "sent", seconds=seconds, attempt=1, notification_id=notification_id, channel=channel,
                    provider="twilio", provider_message_id=f"SM{delivery.hex}")]
    if receipt is not None:
        events.append(event(delivery, receipt, seconds=seconds + 4, attempt=1, notification_id=notification_id,
                            channel=channel, provider="twilio", provider_message_id=f"SM{delivery.hex}", **fields))
    return events


def deliveries(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        return {str(d): rest for d, *rest in conn.execute(
            "SELECT delivery_id, status, status_at, sent_at, provider_message_id, error_class, reason FROM deliveries")}


@pytest.fixture
def url(database_url) -> str:
    migrate(database_url)
    return database_url


@pytest.mark.parametrize("order", ["in order", "receipt first"])
def test_a_receipt_after_sent_is_the_current_status_in_any_arrival_order(url, order):
    events = sent_then("undelivered", error_class="30005", error_message="Unknown destination handset")
    batches = [events] if order == "in order" else [events[2:], events[:2]]
    for batch in batches:
        record(url, batch)
    [(status, status_at, sent_at, message_id, error_class, _)] = deliveries(url).values()
    assert (status, error_class) == ("undelivered", "30005")
    assert (status_at, sent_at) == (T0 + dt.timedelta(seconds=7), T0 + dt.timedelta(seconds=3))
    assert message_id == events[1]["provider_message_id"]  # still matchable by it
    record(url, events)  # the same events again (a re-published receipt): nothing changes
    assert deliveries(url)[events[0]["delivery_id"]][0] == "undelivered"


def test_among_receipts_the_provider_times_decide(url):
    events = sent_then("delivered")
    complaint = {**events[-1], "event_id": str(uuid.uuid4()), "status": "complained",
                 "occurred_at": events[-1]["occurred_at"] + dt.timedelta(hours=2)}
    record(url, [complaint])
    record(url, events)
    assert deliveries(url)[events[0]["delivery_id"]][0] == "complained"


def test_stats_report_sent_and_delivered_apart_with_their_rates(url):
    events = (sent_then(None, seconds=1) + sent_then("delivered", seconds=2) + sent_then("delivered", seconds=3)
              + sent_then("bounced", seconds=4, channel="email", reason="hard")
              + sent_then("complained", seconds=5, channel="email")
              + sent_then(None, seconds=6, channel="webhook"))  # its 2xx was the receipt: delivered
    waiting = uuid.uuid4()
    events += [event(waiting, "queued"), event(uuid.uuid4(), "queued") | {"status": "dead_lettered"}]
    record(url, events)
    with psycopg.connect(url) as conn:
        report = delivery_stats(conn, T0 - dt.timedelta(seconds=1), until=T0 + dt.timedelta(hours=1))
        by_channel = {g["channel"]: g for g in delivery_stats(conn, T0 - dt.timedelta(seconds=1), ["channel"],
                                                              until=T0 + dt.timedelta(hours=1))["groups"]}
    totals = report["totals"]
    assert {k: totals[k] for k in ("total", "sent", "delivered", "undelivered", "bounced", "complained", "pending",
                                   "dead_lettered")} == {
        "total": 8, "sent": 6, "delivered": 4, "undelivered": 0, "bounced": 1, "complained": 1, "pending": 1,
        "dead_lettered": 1}
    assert (totals["sent_rate"], totals["delivered_rate"]) == (0.75, 0.5)
    # Created-to-sent, whatever receipt came after: 1 to 6 seconds.
    assert (totals["latency_avg_s"], totals["latency_p50_s"]) == (3.5, 3.5)
    assert (by_channel["sms"]["sent_rate"], by_channel["sms"]["delivered_rate"]) == (1.0, round(2 / 3, 4))
    assert (by_channel["email"]["bounced"], by_channel["email"]["delivered"]) == (1, 1)
    assert (by_channel["webhook"]["sent"], by_channel["webhook"]["delivered"]) == (1, 1)


def test_the_notification_status_and_timeline_show_receipts(url):
    notification_id = str(uuid.uuid4())
    delivered = sent_then("delivered", notification_id=notification_id)
    bounced = sent_then("bounced", notification_id=notification_id, channel="email", reason="hard",
                        error_class="5.1.1")
    record(url, delivered + bounced)
    with psycopg.connect(url) as conn:
        summary = notification_status(conn, notification_id)
        events = timeline(conn, notification_id)
    assert {k: summary[k] for k in ("status", "deliveries", "sent", "undelivered", "bounced", "failed")} == {
        "status": "partially_delivered", "deliveries": 2, "sent": 2, "undelivered": 0, "bounced": 1, "failed": 0}
    assert [(e["channel"], e["status"]) for e in events] == [
        ("email", "queued"), ("email", "sent"), ("email", "bounced"),
        ("sms", "queued"), ("sms", "sent"), ("sms", "delivered")]
    assert [(e["reason"], e["error_class"]) for e in events if e["status"] == "bounced"] == [("hard", "5.1.1")]
    record(url, [{**delivered[-1], "event_id": str(uuid.uuid4()), "status": "complained",
                  "occurred_at": delivered[-1]["occurred_at"] + dt.timedelta(seconds=1)}])
    with psycopg.connect(url) as conn:
        complained = notification_status(conn, notification_id)
    assert (complained["status"], complained["complained"]) == ("partially_delivered", 1)  # it was delivered
