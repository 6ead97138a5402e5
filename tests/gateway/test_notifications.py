"""POST /v1/notifications: 202 only once the broker holds the event, batches, Idempotency-Key,
input limits and field-level errors."""
from __future__ import annotations

import uuid

import psycopg

from consumer.codec import Codec
from consumer.events import NOTIFICATION
from tests.gateway.conftest import make_token
from tests.pipeline import read_topic

ONE = {"priority": "high", "channels": ["email"], "recipient": {"id": "user-1", "email": "ada@example.com"},
       "content": {"default": {"subject": "Invoice ready", "text": "Your invoice is ready."}},
       "data": {"invoice": {"number": "INV-7"}}}


def events_on(gateway, priority: str) -> list[dict]:
    codec = Codec.from_settings(gateway.settings)
    topic = gateway.app.state.gateway.topics.events(priority)
    return [codec.decode(NOTIFICATION, m.value()) for m in read_topic(gateway.settings, topic, idle_s=1.0)]


def test_accepted_only_once_the_event_is_on_its_priority_topic(gateway):
    response = gateway.request("POST", "/v1/notifications", make_token("billing"), json={**ONE, "source": "spoofed"})
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["topic"].endswith(".events.high") and answer["offset"] >= 0
    [event] = events_on(gateway, "high")
    assert str(event["id"]) == answer["id"]
    assert event["source"] == "billing"  # the token's subject, not what the body claimed
    assert event["recipient"]["email"] == "ada@example.com" and event["channels"] == ["email"]


def test_a_batch_goes_to_the_topic_of_each_priority(gateway):
    batch = [{**ONE, "priority": p, "recipient": {"id": f"user-{p}", "email": "a@example.com"}}
             for p in ("urgent", "low", "low")]
    response = gateway.request("POST", "/v1/notifications", make_token(), json=batch)
    assert response.status_code == 202, response.text
    ids = [n["id"] for n in response.json()["notifications"]]
    assert {str(e["id"]) for e in events_on(gateway, "urgent")} == {ids[0]}
    assert {str(e["id"]) for e in events_on(gateway, "low")} == set(ids[1:])


def test_idempotency_key_returns_the_same_id_and_publishes_once(gateway):
    token, key = make_token(), {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = gateway.request("POST", "/v1/notifications", token, json=ONE, headers=key)
    again = gateway.request("POST", "/v1/notifications", token, json=ONE, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert [str(e["id"]) for e in events_on(gateway, "high")] == [first.json()["id"]]
    changed = gateway.request("POST", "/v1/notifications", token, json={**ONE, "priority": "low"}, headers=key)
    assert changed.status_code == 422 and changed.json()["field"] == "Idempotency-Key"
    # Another principal's key is its own.
    other = gateway.request("POST", "/v1/notifications", make_token("crm"), json=ONE, headers=key)
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]


def test_invalid_input_names_the_field_and_publishes_nothing(gateway):
    token = make_token()
    cases = [
        ({**ONE, "recipient": {"email": "a@example.com"}}, 422, "recipient.id"),
        ({**ONE, "channels": ["pigeon"]}, 422, "channels"),
        ({**ONE, "priority": "asap"}, 422, "priority"),
        ([ONE, {**ONE, "expires_at": "tomorrow"}], 422, "[1].expires_at"),
        ({**ONE, "expires_at": "0001-01-01T00:00:00+01:00"}, 422, "expires_at"),  # out of range in UTC
        ([], 422, None),
    ]
    for body, status, field in cases:
        response = gateway.request("POST", "/v1/notifications", token, json=body)
        assert (response.status_code, response.json()["field"]) == (status, field), response.text
        assert response.json()["error"]
    not_json = gateway.request("POST", "/v1/notifications", token, content=b'{"channels": [',
                               headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    nan = gateway.request("POST", "/v1/notifications", token, content=b'{"data": {"x": NaN}}')
    assert nan.status_code == 400
    assert all(events_on(gateway, p) == [] for p in ("high", "normal"))


def test_body_and_batch_caps(start_gateway):
    gateway = start_gateway(gateway_max_body_bytes=4000, gateway_max_batch=3)
    token = make_token()
    too_many = gateway.request("POST", "/v1/notifications", token, json=[ONE] * 4)
    assert too_many.status_code == 413 and "cap of 3" in too_many.json()["error"]
    too_big = gateway.request("POST", "/v1/notifications", token, json={**ONE, "data": {"blob": "x" * 5000}})
    assert too_big.status_code == 413

    def chunks():
        yield b'{"data": {"blob": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'
    chunked = gateway.request("POST", "/v1/notifications", token, content=chunks())
    assert chunked.status_code == 413
    assert events_on(gateway, "high") == []
    with psycopg.connect(gateway.settings.database_url) as conn:
        outcomes = conn.execute("SELECT outcome, status_code FROM audit_log ORDER BY id").fetchall()
    assert outcomes == [("too_large", 413)] * 3


def test_no_202_when_the_broker_does_not_acknowledge(start_gateway, pipeline):
    from cli.embedded import free_port

    gateway = start_gateway(bootstrap_servers=f"127.0.0.1:{free_port()}",
                            kafka={"message.timeout.ms": "1500", "socket.connection.setup.timeout.ms": "1000"})
    response = gateway.request("POST", "/v1/notifications", make_token(), json=ONE,
                               headers={"Idempotency-Key": "k-unacked"})
    assert response.status_code == 503 and "did not acknowledge" in response.json()["error"]
    assert response.headers["Retry-After"]
    with psycopg.connect(pipeline.database_url) as conn:
        # The failed claim is released, so a retry publishes instead of replaying the failure.
        assert conn.execute("SELECT count(*) FROM gateway_idempotency").fetchone()[0] == 0
        assert conn.execute("SELECT outcome FROM audit_log WHERE action = 'notifications.create'").fetchall() == [("failed",)]


def test_concurrent_retries_with_one_key_publish_once(gateway):
    from concurrent.futures import ThreadPoolExecutor

    token, key = make_token(), {"Idempotency-Key": "concurrent-1"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: gateway.request("POST", "/v1/notifications", token, json=ONE, headers=key),
                                range(6)))
    # Each is either the first answer (202, the same id) or told that the first is still running (409).
    assert {a.status_code for a in answers} <= {202, 409} and 202 in {a.status_code for a in answers}
    assert len({a.json()["id"] for a in answers if a.status_code == 202}) == 1
    assert len(events_on(gateway, "high")) == 1
