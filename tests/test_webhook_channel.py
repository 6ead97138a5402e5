"""The minimal webhook channel: what a receiver gets, and failed deliveries recorded with their
HTTP status, on the real broker and Postgres."""
from __future__ import annotations

import psycopg
import pytest

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
