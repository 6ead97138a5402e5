"""The minimal webhook channel: what a receiver gets, and failed deliveries recorded with their
HTTP status, on the real broker and Postgres."""
from __future__ import annotations

import json

import psycopg
import pytest
from aiohttp import web

from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, lane
from consumer.publisher import Publisher
from consumer.topics import Topics
from router.fanout import fan_out
from tests.fixtures.loopback import LoopbackServer
from tests.pipeline import make_notifications, publish, wait_for_statuses


def recorded(database_url: str, ids) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT status, status_code, error_class, provider FROM deliveries WHERE notification_id = ANY(%s::uuid[])",
            [list(ids)]).fetchall()


def test_receiver_gets_json_with_a_stable_webhook_id(pipeline, services, webhook_receiver):
    services.start_pipeline()
    notification = make_notifications(1, webhook_receiver.url)[0]
    publish(pipeline, [notification])
    webhook_receiver.wait_for(1)
    body, headers = webhook_receiver.bodies[0], webhook_receiver.headers[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"] == body["id"]  # the delivery id, the same on every attempt
    assert body["notification_id"] == notification["id"] and body["recipient_id"] == "user-0"
    assert body["priority"] == "urgent" and body["subject"] == "n0"
    wait_for_statuses(pipeline.database_url, [notification["id"]])
    assert recorded(pipeline.database_url, [notification["id"]]) == [("sent", 200, None, "http")]


@pytest.mark.parametrize("status, error_class", [(500, "http_500"), (404, "http_404"), (429, "http_429")])
def test_a_non_2xx_answer_ends_dead_lettered_with_the_status(pipeline, services, webhook_receiver, status, error_class):
    webhook_receiver.status = status
    services.start_pipeline()
    notifications = make_notifications(3, webhook_receiver.url)
    publish(pipeline, notifications)
    ids = [n["id"] for n in notifications]
    wait_for_statuses(pipeline.database_url, ids, statuses=("dead_lettered",))
    assert recorded(pipeline.database_url, ids) == [("dead_lettered", status, error_class, "http")] * 3


def test_unreachable_url_is_dead_lettered_and_missing_address_suppressed_not_lost(pipeline, services, webhook_receiver):
    services.start_pipeline()
    unreachable = make_notifications(1, "http://127.0.0.1:9/hook")[0]  # discard port: connection refused
    no_address = make_notifications(1, webhook_receiver.url)[0]
    no_address["recipient"]["webhook_url"] = None
    publish(pipeline, [unreachable, no_address])
    wait_for_statuses(pipeline.database_url, [unreachable["id"]], statuses=("dead_lettered",))
    wait_for_statuses(pipeline.database_url, [no_address["id"]], statuses=("suppressed",))
    assert {r[2] for r in recorded(pipeline.database_url, [unreachable["id"]])} == {"ClientConnectorError"}
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT reason FROM deliveries WHERE notification_id = %s",
                            [no_address["id"]]).fetchone() == ("no_address",)
    assert webhook_receiver.bodies == []


class EchoingReceiver(LoopbackServer):
    """Answers 400 with the request's Authorization header and a NUL byte in its body (a NUL once
    stopped the sink's COPY, a credential once came back through error_message)."""

    def __init__(self) -> None:
        self.requests = 0
        super().__init__()
        self.url = f"{self.base}/echo"

    async def _answer(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(status=400, text=f"rejected\x00 {request.headers.get('Authorization')}")

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/echo", self._answer)


def behind_one_key(url: str, *, options: dict | None = None, data: str | None = None) -> dict:
    """A notification on one key and one lane, so each waits behind the one published before it."""
    (notification,) = make_notifications(1, url)
    notification["priority"], notification["recipient"]["id"] = "NORMAL", "one-key"
    notification["content"] = {"webhook": {"template": None, "subject": "s", "text": "t", "html": None,
                                           "options": json.dumps(options or {})}}
    if data is not None:
        notification["data"] = data
    return notification


def publish_channel_message(settings, notification: dict) -> None:
    """The webhook ChannelMessage of `notification`, straight onto its channel topic: what any
    producer of that topic (an older router, a replay, a tool) could put there."""
    (delivery,) = fan_out(notification)
    publisher = Publisher.from_settings(settings)
    publisher.publish_sync(Topics(settings.topic_prefix).channel("webhook", lane(notification["priority"])),
                           Codec.from_settings(settings).encode(CHANNEL_MESSAGE, delivery.message),
                           key=notification["recipient"]["id"])
    assert publisher.close(timeout=30) == 0


def test_bad_urls_headers_data_and_credentials_are_dead_lettered_and_the_next_one_is_delivered(
        pipeline, services, webhook_receiver):
    """Each of these stopped the webhook worker, or leaked a secret, before (issues 14 and 15)."""
    credentials = json.dumps({"ops": {"type": "bearer", "token": "ops-t0ken-secret", "hosts": ["127.0.0.1"]},
                              "partner": {"type": "bearer", "token": "partner-t0ken", "hosts": ["partner.example"]}})
    echoing = EchoingReceiver()
    try:
        _, channel, _ = services.start_pipeline(TIDINGS_WEBHOOK_CREDENTIALS=credentials)
        # Data that is not JSON: the router refuses such an event, so it goes onto the channel topic
        # directly, ahead of the rest on the same key.
        not_json = behind_one_key(webhook_receiver.url, data="{not json")
        publish_channel_message(pipeline, not_json)
        bad = [behind_one_key("http://127.0.0.1:99999/hook"),
               behind_one_key("http://" + "a" * 70 + ".example.com/hook"),
               behind_one_key(webhook_receiver.url, options={"headers": {"X-Vt": "a\x0bb"}}),
               behind_one_key(webhook_receiver.url, options={"headers": {"X-Evil ": "a"}}),
               not_json,
               behind_one_key(webhook_receiver.url, options={"credential": "partner"}),
               behind_one_key(echoing.url, options={"credential": "ops"})]
        good = behind_one_key(webhook_receiver.url)
        publish(pipeline, [n for n in bad if n is not not_json] + [good])
        wait_for_statuses(pipeline.database_url, [good["id"]])
        wait_for_statuses(pipeline.database_url, [n["id"] for n in bad], statuses=("dead_lettered",))
        assert channel.process.poll() is None  # the worker never stopped
        assert [b["notification_id"] for b in webhook_receiver.bodies] == [good["id"]]
        assert echoing.requests == 1
        with psycopg.connect(pipeline.database_url) as conn:
            classes = dict(conn.execute(
                "SELECT notification_id::text, error_class FROM deliveries WHERE notification_id = ANY(%s::uuid[])",
                [[n["id"] for n in bad]]).fetchall())
            echoed = conn.execute("SELECT error_message FROM deliveries WHERE notification_id = %s",
                                  [bad[-1]["id"]]).fetchone()[0]
        assert [classes[n["id"]] for n in bad] == ["invalid_url", "invalid_url", "header_injection",
                                                   "invalid_options", "invalid_data", "credential_not_allowed",
                                                   "http_400"]
        assert echoed == "rejected\ufffd Bearer [redacted]"
    finally:
        echoing.close()
