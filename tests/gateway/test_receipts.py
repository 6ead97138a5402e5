"""Receipts through the running gateway's `ingest` (gateway/receipts.py), whatever their source:
each stored once, kept until its delivery is recorded `sent` and then matched by the gateway's
matcher, published as one DeliveryEvent that the real sink folds into the delivery's status, and
applied to the tenant's suppression list (real broker, real Postgres, the sink as a process)."""
from __future__ import annotations

import datetime as dt
import time
import uuid

import psycopg

from consumer.codec import Codec
from consumer.events import DELIVERY, delivery_event, delivery_id
from consumer.topics import Topics
from gateway.housekeeping import prune
from gateway.receipts import ingest, settle
from router.recipients import RecipientDirectory
from tests.pipeline import read_topic
from tests.tracking.test_store import record
from tracking.receipts import Receipt, receipt_event_id

PHONE = "+14155550100"


def sent(url: str, channel: str, message_id: str | None, *, recipient_id: str = "ada", tenant: str | None = "acme",
         at: dt.datetime | None = None) -> dict:
    """A delivery the log has recorded `sent` (queued, then sent with the provider's message id)."""
    notification_id = str(uuid.uuid4())
    at = at or dt.datetime.now(dt.timezone.utc)
    message = {"delivery_id": delivery_id(notification_id, channel), "notification_id": notification_id,
               "channel": channel, "priority": "NORMAL", "recipient_id": recipient_id, "source": "tests",
               "tenant": tenant, "category": "test", "attempt": 1}
    record(url, [delivery_event(message, "queued", attempt=0, clock=lambda: at - dt.timedelta(seconds=1)),
                 delivery_event(message, "sent", clock=lambda: at, provider="twilio" if channel == "sms" else "smtp",
                                provider_message_id=message_id)])
    return message


def receipt(status: str, *, channel: str = "sms", source: str = "twilio", message_id: str | None = None,
            delivery: str | None = None, **fields) -> Receipt:
    defaults = {"occurred_at": dt.datetime.now(dt.timezone.utc)}
    return Receipt(receipt_id=fields.pop("receipt_id", f"{source}:{uuid.uuid4().hex}"), source=source,
                   channel=channel, status=status, provider_message_id=message_id, delivery_id=delivery,
                   **{**defaults, **fields})


def published(settings) -> list[dict]:
    codec = Codec.from_settings(settings)
    return [codec.decode(DELIVERY, m.value()) for m in read_topic(settings, Topics(settings.topic_prefix).deliveries)]


def rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.2)
    return found


def test_a_receipt_before_its_sent_waits_then_is_recorded_once(services, start_gateway, pipeline):
    sink = services.start("run", "sink")
    gateway = start_gateway(gateway_receipt_match_interval_s=0.2)
    url = pipeline.database_url
    early = receipt("delivered", message_id="SMearly", address=PHONE, receipt_id="twilio:SMearly:delivered")

    first = gateway.run(lambda g: ingest(g, [early]))
    assert first == {"received": 1, "recorded": 1, "duplicates": 0, "invalid": 0, "matched": 0, "waiting": 1}
    again = gateway.run(lambda g: ingest(g, [early, early]))  # the provider retried its callback
    assert (again["recorded"], again["duplicates"]) == (0, 2)
    assert rows(url, "SELECT receipt_id, attempts > 0, recorded_at FROM receipts") == [
        ("twilio:SMearly:delivered", True, None)]

    message = sent(url, "sms", "SMearly")  # the sink's `sent` arrives after the receipt
    gateway.clock.advance(3600)  # the waiting receipt is due again (its retries back off)
    [(status, sent_at, status_at)] = wait_for(lambda: rows(
        url, "SELECT status, sent_at, status_at FROM deliveries WHERE delivery_id = %s AND status = 'delivered'",
        message["delivery_id"]))
    assert status_at > sent_at  # stamped after the `sent` it follows, though the receipt came first
    [(matched, recorded)] = rows(url, "SELECT matched_delivery_id::text, recorded_at IS NOT NULL FROM receipts")
    assert (matched, recorded) == (message["delivery_id"], True)
    assert rows(url, "SELECT event_id::text, provider, provider_message_id FROM delivery_events"
                     " WHERE status = 'delivered'") == [(receipt_event_id(early.receipt_id), "twilio", "SMearly")]

    # Published again (a gateway that died before marking it recorded): the sink records nothing new.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE receipts SET recorded_at = NULL, next_match_at = now() - interval '1 hour'")
    wait_for(lambda: rows(url, "SELECT 1 FROM receipts WHERE recorded_at IS NOT NULL"))
    assert len([e for e in published(pipeline) if e["status"] == "delivered"]) == 2
    wait_for(lambda: sink.metric("tidings_sink_events_total", result="duplicate") >= 1)
    assert rows(url, "SELECT count(*) FROM delivery_events WHERE status = 'delivered'") == [(1,)]
    assert gateway.metrics.receipts.labels("sms", "twilio", "delivered", "")._value.get() == 2


def test_receipts_update_the_tenants_suppression_list(start_gateway, pipeline):
    gateway = start_gateway(soft_bounce_limit="2/7d", gateway_receipt_match_interval_s=3600)
    url = pipeline.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        RecipientDirectory(conn).upsert([{"id": "grace", "addresses": {"email": "Grace@Example.COM"}}])
    hard = sent(url, "email", "ses-1")
    complained = sent(url, "email", None, recipient_id="grace")  # no address in the report: the directory's
    for n in range(3):
        sent(url, "email", f"ses-soft-{n}")
    unknown = sent(url, "sms", "SMunknown", tenant=None)  # no tenant: the router's default one
    sent(url, "sms", "SMoff", tenant="globex")
    receipts = [
        receipt("bounced", channel="email", source="ses", message_id="ses-1", bounce="hard", address="ada@example.com",
                error_code="5.1.1", detail="user unknown"),
        receipt("complained", channel="email", source="dsn", delivery=complained["delivery_id"]),
        receipt("bounced", channel="email", source="ses", message_id="ses-soft-0", bounce="soft",
                address="bob@example.com"),
        receipt("delivered", channel="email", source="ses", message_id="ses-soft-1", address="bob@example.com"),
        receipt("bounced", channel="email", source="ses", message_id="ses-soft-2", bounce="soft",
                address="bob@example.com"),
        receipt("undelivered", message_id="SMunknown", address="+1 (415) 555-0100", error_code="30005"),
        receipt("undelivered", message_id="SMoff", address="+14155550101", error_code="30003"),
        receipt("delivered", message_id="x" * 600),  # cannot be a key: refused, the others go on
    ]
    counts = gateway.run(lambda g: ingest(g, receipts))
    assert counts == {"received": 8, "recorded": 7, "duplicates": 0, "invalid": 1, "matched": 7, "waiting": 0}

    assert rows(url, "SELECT tenant, channel, address, reason, source, detail FROM suppressions"
                     ' ORDER BY address COLLATE "C"') == [
        ("default", "sms", PHONE, "unreachable", "provider:twilio", "30005"),
        ("acme", "email", "Grace@example.com", "complaint", "provider:dsn", None),
        ("acme", "email", "ada@example.com", "hard_bounce", "provider:ses", "5.1.1 user unknown")]
    # The soft bounce before a delivery was forgotten by it: one since, under the limit of 2.
    assert rows(url, 'SELECT tenant, address FROM soft_bounces ORDER BY address COLLATE "C"') == [
        ("globex", "+14155550101"), ("acme", "bob@example.com")]

    events = {e["delivery_id"]: e for e in published(pipeline)}
    bounced = events[uuid.UUID(hard["delivery_id"])]
    assert (bounced["status"], bounced["reason"], bounced["error_class"], bounced["provider"]) == (
        "bounced", "hard", "5.1.1", "ses")
    assert (bounced["tenant"], bounced["recipient_id"], bounced["attempt"]) == ("acme", "ada", 1)
    assert events[uuid.UUID(unknown["delivery_id"])]["status"] == "undelivered"
    assert {e["status"] for e in events.values()} == {"bounced", "complained", "delivered", "undelivered"}
    assert {str(e["event_id"]) for e in events.values()} == {receipt_event_id(r.receipt_id) for r in receipts[:7]}

    # A second soft bounce of bob's within the window lists him.
    more = sent(url, "email", "ses-soft-3")
    gateway.run(lambda g: ingest(g, [receipt("bounced", channel="email", source="ses", message_id="ses-soft-3",
                                             bounce="soft", address="bob@EXAMPLE.com")]))
    assert rows(url, "SELECT reason FROM suppressions WHERE address = 'bob@example.com'") == [("soft_bounces",)]
    assert more["delivery_id"] in {str(e["delivery_id"]) for e in published(pipeline)}
    assert gateway.metrics.receipt_listings.labels("email", "soft_bounces")._value.get() == 1
    assert gateway.metrics.receipt_listings.labels("sms", "unreachable")._value.get() == 1


def test_a_receipt_for_no_recorded_delivery_waits_and_is_given_up_after_the_window(start_gateway, pipeline):
    gateway = start_gateway(gateway_receipt_match_interval_s=3600, gateway_receipt_match_window_s=60)
    url = pipeline.database_url
    queued_only = sent(url, "email", None)
    with psycopg.connect(url, autocommit=True) as conn:  # the router's `queued`, no `sent` yet
        conn.execute("UPDATE deliveries SET sent_at = NULL, status = 'queued' WHERE delivery_id = %s",
                     [queued_only["delivery_id"]])
    lost = [receipt("bounced", channel="email", source="dsn", delivery=queued_only["delivery_id"], bounce="hard"),
            receipt("delivered", message_id="SMnobody")]
    assert gateway.run(lambda g: ingest(g, lost))["waiting"] == 2
    assert gateway.run(lambda g: settle(g)) == {"matched": 0, "deferred": 0}  # not due again yet
    gateway.clock.advance(120)
    assert gateway.run(lambda g: prune(g.pool, g.clock(), 86400, 60))[3] == 2
    assert rows(url, "SELECT count(*) FROM receipts") == [(0,)]
