"""Scheduled sends through the gateway: POST /v1/notifications takes send_at (ISO 8601) and the
router holds the delivery until then; POST /v1/notifications/{id}/cancel stops it (202, recorded
`cancelled`, never sent) for a token that may send on its channels and acts for its tenant, answers
404 for an unknown id or another tenant's, and 409 once nothing is left to cancel. Quiet hours are
set and shown at /v1/recipients/{id}/preferences/quiet-hours."""
from __future__ import annotations

from datetime import timedelta

import psycopg

from consumer.events import utcnow
from tests.gateway.conftest import make_token
from tests.pipeline import wait_for_statuses
from tests.records import events_of, wait_for_events


def scheduled_body(url: str, in_s: float) -> dict:
    return {"priority": "normal", "tenant": "acme", "channels": ["webhook"],
            "recipient": {"id": "user-later", "addresses": {"webhook": url}},
            "content": {"default": {"text": "later"}},
            "send_at": (utcnow() + timedelta(seconds=in_s)).isoformat()}


def test_cancel_before_it_goes_out_and_409_after(services, gateway, pipeline, webhook_receiver):
    services.start_pipeline()
    sender = make_token("billing", scopes=["send:webhook", "read"], tenants=["acme"])
    doomed = gateway.request("POST", "/v1/notifications", sender, json=scheduled_body(webhook_receiver.url, 6.0))
    kept = gateway.request("POST", "/v1/notifications", sender, json=scheduled_body(webhook_receiver.url, 7.0))
    assert doomed.status_code == kept.status_code == 202, doomed.text
    doomed_id, kept_id = doomed.json()["id"], kept.json()["id"]
    for notification_id in (doomed_id, kept_id):
        wait_for_events(pipeline.database_url, notification_id, "scheduled")

    path = f"/v1/notifications/{doomed_id}/cancel"
    assert gateway.request("POST", path, make_token(scopes=["send:webhook"], tenants=["other"])).status_code == 404
    forbidden = gateway.request("POST", path, make_token(scopes=["send:email"], tenants=["acme"]))
    assert forbidden.status_code == 403 and "send:webhook" in forbidden.text
    assert gateway.request("POST", "/v1/notifications/not-a-uuid/cancel", sender).status_code == 422
    assert gateway.request("POST", "/v1/notifications/5b1c3c0e-0000-4000-8000-000000000000/cancel",
                           sender).status_code == 404
    answer = gateway.request("POST", path, sender)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["cancelled_by"] == "api:billing" and not body["already_cancelled"]
    assert [(d["channel"], d["status"]) for d in body["cancelled"]] == [("webhook", "scheduled")]
    assert gateway.request("POST", path, sender).json()["already_cancelled"] is True

    wait_for_statuses(pipeline.database_url, [kept_id], timeout=60)  # due after the cancelled one
    wait_for_statuses(pipeline.database_url, [doomed_id], statuses=("cancelled",), timeout=60)
    assert set(webhook_receiver.notification_ids()) == {kept_id}
    late = gateway.request("POST", f"/v1/notifications/{kept_id}/cancel", sender)
    assert late.status_code == 409 and "nothing left to cancel" in late.json()["error"]
    timeline = gateway.request("GET", f"/v1/notifications/{doomed_id}", sender).json()
    assert timeline["status"]["status"] == "cancelled"
    assert [e["status"] for e in timeline["events"]] == ["scheduled", "cancelled"]
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT cancelled_by, tenant FROM cancellations").fetchall() == [("api:billing", "acme")]
    assert [e[0] for e in events_of(pipeline.database_url, kept_id)] == ["scheduled", "sent"]


def test_quiet_hours_are_set_and_shown_per_channel(gateway):
    admin = make_token(scopes=["admin:preferences"])
    path = "/v1/recipients/user-42/preferences/quiet-hours"
    assert gateway.request("GET", path, admin).json() == []
    put = gateway.request("PUT", path, admin, json=[{"windows": ["mon-fri 22:00-07:00", "SAT,SUN"]},
                                                     {"channel": "sms", "windows": []}])
    assert put.status_code == 200, put.text
    assert [(r["channel"], r["windows"], r["source"]) for r in put.json()] == [
        ("*", ["mon-fri 22:00-07:00", "sat-sun"], "api"), ("sms", [], "api")]
    bad = gateway.request("PUT", path, admin, json={"channel": "email", "windows": ["mon-fri 22:00"]})
    assert bad.status_code == 422 and "HH:MM-HH:MM" in bad.json()["error"]
    assert gateway.request("PUT", path, admin, json={"channel": "fax", "windows": []}).status_code == 422
    assert gateway.request("PUT", path, admin, json={"windows": ["daily"]}).status_code == 422  # always quiet
    assert gateway.request("PUT", path, admin, json={"channel": "email"}).status_code == 422  # windows required
    assert gateway.request("PUT", path, admin, json={"channel": "sms", "windows": None}).status_code == 200
    assert [r["channel"] for r in gateway.request("GET", path, admin).json()] == ["*"]
    not_admin = make_token(scopes=["admin:preferences"], tenants=["acme"])
    assert gateway.request("GET", path, not_admin).status_code == 403  # shared by every tenant
