"""Expiry on the real broker: an event past its expires_at is recorded `expired` and never
delivered, whether the router, the channel worker before sending, or a retry coming due notices."""
from __future__ import annotations

from datetime import timedelta

from consumer import failure_headers as h
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, utcnow
from consumer.publisher import Publisher
from consumer.topics import Topics
from router.fanout import fan_out
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import events_of


def channel_message(notification: dict, **changes) -> dict:
    (delivery,) = fan_out(notification)
    return {**delivery.message, **changes}


def test_expired_events_are_recorded_not_delivered_at_every_stage(pipeline, services, webhook_receiver):
    services.start_pipeline()
    now = utcnow()
    at_router, fresh, at_worker, at_retry, retry_fresh = make_notifications(5, webhook_receiver.url)
    at_router["expires_at"] = now - timedelta(seconds=1)
    fresh["expires_at"] = now + timedelta(hours=1)
    publish(pipeline, [at_router, fresh])

    # Straight onto the channel topic (as if it waited there) and onto a retry tier, due in 2 s
    # but expiring in 1 s: only the worker can notice these.
    codec, names = Codec.from_settings(pipeline), Topics(pipeline.topic_prefix)
    publisher = Publisher.from_settings(pipeline)
    publisher.publish_sync(names.channel("webhook", "normal"),
                           codec.encode(CHANNEL_MESSAGE, channel_message(at_worker, expires_at=now - timedelta(seconds=1))),
                           key="user-1")
    now = utcnow()
    for notification, expires in ((at_retry, now + timedelta(seconds=1)), (retry_fresh, now + timedelta(hours=1))):
        headers = h.FailureContext(names.channel("webhook", "normal"), 0, 0, now).headers(
            attempt=1, error_class="http_503", error_message="", group="tests",
            more={h.DUE_AT: h.iso(now + timedelta(seconds=2)), h.RETRY_TIER: "2s"})
        message = channel_message(notification, expires_at=expires, attempt=2)
        publisher.publish_sync(names.retry("webhook", "2s"), codec.encode(CHANNEL_MESSAGE, message),
                               key="user-1", headers=headers)
    assert publisher.close() == 0

    statuses = wait_for_statuses(pipeline.database_url, [n["id"] for n in (at_router, fresh, at_worker, at_retry, retry_fresh)],
                                 statuses=("sent", "expired"))
    assert statuses == {at_router["id"]: "expired", fresh["id"]: "sent", at_worker["id"]: "expired",
                        at_retry["id"]: "expired", retry_fresh["id"]: "sent"}
    assert set(webhook_receiver.notification_ids()) == {fresh["id"], retry_fresh["id"]}
    assert [e[:3] for e in events_of(pipeline.database_url, at_router["id"])] == [("expired", "router", "expired")]
    assert [e[:3] for e in events_of(pipeline.database_url, at_worker["id"])] == [("expired", "channel-webhook", "expired")]
    assert [e[:3] for e in events_of(pipeline.database_url, at_retry["id"])] == [("expired", "channel-webhook", "expired")]
