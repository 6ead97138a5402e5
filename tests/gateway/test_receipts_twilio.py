"""Twilio's status callbacks at POST /v1/receipts/twilio: the fake Twilio signs them as Twilio
documents (over the public StatusCallback URL, while it posts to the gateway's loopback address, as
a proxy would pass them on); a bad signature is 403 and records nothing; delivered, undelivered and
failed are recorded once, the steps on the way ignored. Then the whole path: the SMS worker asks
for the callbacks, a receipt before its `sent` is matched later, a 30005 suppresses the number for
the next notification, and the status, timeline and statistics show it (real pipeline processes)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import psycopg
from twilio.request_validator import RequestValidator

from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, twilio_signature
from tests.gateway.conftest import make_token
from tests.pipeline import publish, wait_for_statuses
from tests.test_sms_channel import sms_notification

PUBLIC = "https://tidings.example.com/v1/receipts/twilio"
PATH = "/v1/receipts/twilio"


def configured(start_gateway, **overrides):
    return start_gateway(sms_twilio_auth_token=AUTH_TOKEN, sms_twilio_status_callback=PUBLIC, **overrides)


def message(sid: str, to: str = "+14155550100") -> dict:
    """A message as the fake Twilio keeps it (its form fields and sid)."""
    return {"sid": sid, "To": to, "From": "+15005550006", "StatusCallback": PUBLIC}


def receipts(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT receipt_id, status, error_code, address FROM receipts"
                            " ORDER BY receipt_id").fetchall()


def test_signatures_statuses_duplicates_size_and_rate(start_gateway, pipeline, fake_twilio):
    gateway = configured(start_gateway, gateway_receipt_rate_limit="3/h")
    post_to = gateway.base + PATH
    sms = message("SM0001")
    form = fake_twilio.callback_form(sms, "delivered")
    # The fake's signature is the documented algorithm; the twilio library agrees with it.
    assert twilio_signature(AUTH_TOKEN, PUBLIC, form) == RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC, form)

    forged = [fake_twilio.status_callback(sms, "delivered", post_to, auth_token="another-accounts-token"),
              fake_twilio.status_callback(sms, "delivered", post_to, signed_url=post_to),  # not the configured URL
              fake_twilio.status_callback(sms, "delivered", post_to, signature=""),
              fake_twilio.status_callback(sms, "delivered", post_to, signature=twilio_signature(
                  AUTH_TOKEN, PUBLIC, form), form={**form, "ErrorCode": "30005"})]  # changed after signing
    for answer in forged:
        assert answer.status_code == 403, answer.text
        assert answer.json()["field"] == "X-Twilio-Signature"
    assert receipts(pipeline.database_url) == []

    for on_the_way in ("queued", "accepted", "sending", "sent"):
        answer = fake_twilio.status_callback(sms, on_the_way, post_to)
        assert (answer.status_code, answer.json()) == (200, {"status": "ignored", "message_status": on_the_way})
    assert receipts(pipeline.database_url) == []

    recorded = fake_twilio.status_callback(sms, "delivered", post_to)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json() == {"status": "recorded", "received": 1, "recorded": 1, "duplicates": 0, "invalid": 0,
                               "matched": 0, "waiting": 1}  # no delivery sent SM0001 (yet)
    retried = fake_twilio.status_callback(sms, "delivered", post_to)
    assert (retried.status_code, retried.json()["status"]) == (200, "duplicate")
    failed = fake_twilio.status_callback(message("SM0002", "+14155550101"), "failed", post_to, error_code=30008)
    assert failed.json()["status"] == "recorded"
    assert receipts(pipeline.database_url) == [("twilio:SM0001:delivered", "delivered", None, "+14155550100"),
                                               ("twilio:SM0002:failed", "undelivered", "30008", "+14155550101")]

    signed_but_broken = fake_twilio.status_callback(sms, "", post_to, form={"MessageSid": "SM0003"})
    assert (signed_but_broken.status_code, signed_but_broken.json()["field"]) == (400, "MessageStatus")
    large = {**fake_twilio.callback_form(message("SM0004"), "delivered"), "Padding": "x" * 17000}
    assert fake_twilio.status_callback(sms, "delivered", post_to, form=large).status_code == 413
    limited = fake_twilio.status_callback(message("SM0005"), "undelivered", post_to, error_code=30005)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0  # the 4th of 3 an hour
    assert len(receipts(pipeline.database_url)) == 2

    outcomes = {o: gateway.metrics.receipt_callbacks.labels("twilio", o)._value.get()
                for o in ("refused", "ignored", "recorded", "duplicate", "too_large", "rate_limited")}
    assert outcomes == {"refused": 4, "ignored": 4, "recorded": 2, "duplicate": 1, "too_large": 1, "rate_limited": 1}
    with psycopg.connect(pipeline.database_url) as conn:
        audited = conn.execute("SELECT principal, action, outcome FROM audit_log ORDER BY id").fetchall()
    assert audited[:4] == [("twilio", "receipts.twilio", "forbidden")] * 4
    metrics = gateway.request("GET", "/metrics").text
    assert 'tidings_receipts_total{bounce="",channel="sms",provider="twilio",status="undelivered"} 0.0' in metrics


def test_without_twilio_settings_the_endpoint_is_not_there(gateway, fake_twilio):
    answer = fake_twilio.status_callback(message("SM0001"), "delivered", gateway.base + PATH)
    assert answer.status_code == 404 and "TIDINGS_SMS_TWILIO_STATUS_CALLBACK" in answer.json()["error"]


def wait_for(check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.25)
    return found


def test_twilio_receipts_through_the_pipeline(pipeline, services, fake_twilio, start_gateway):
    env = {"TIDINGS_SMS_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TIDINGS_SMS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TIDINGS_SMS_TWILIO_FROM": "+15005550006", "TIDINGS_SMS_TWILIO_BASE_URL": fake_twilio.base_url,
           "TIDINGS_SMS_TWILIO_STATUS_CALLBACK": PUBLIC}
    services.start_pipeline("sms", **env)
    gateway = configured(start_gateway, gateway_receipt_match_interval_s=0.2)
    post_to, url, token = gateway.base + PATH, pipeline.database_url, make_token("ops")

    # Delivered: the worker asked for the callback; Twilio reports sent, then delivered (twice).
    first = sms_notification("+14155550100", "Your code is 123456")
    publish(pipeline, [first])
    wait_for_statuses(url, [first["id"]], statuses=("sent",), timeout=60)
    [sent] = fake_twilio.messages
    assert sent["StatusCallback"] == PUBLIC
    assert fake_twilio.status_callback(sent, "sent", post_to).json()["status"] == "ignored"
    answer = fake_twilio.status_callback(sent, "delivered", post_to)
    assert (answer.json()["recorded"], answer.json()["matched"]) == (1, 1)  # its `sent` is recorded: at once
    assert fake_twilio.status_callback(sent, "delivered", post_to).json()["status"] == "duplicate"
    wait_for_statuses(url, [first["id"]], statuses=("delivered",), timeout=60)

    # A receipt before its `sent`: the callback outruns the sink; it is matched once `sent` is in.
    fake_twilio.next_sids.append("SMearly0000000000000000000000001")
    early = fake_twilio.status_callback(message("SMearly0000000000000000000000001", "+14155550102"), "delivered",
                                        post_to)
    assert (early.json()["recorded"], early.json()["waiting"]) == (1, 1)
    second = sms_notification("+14155550102", "Your code is 654321")
    publish(pipeline, [second])
    wait_for_statuses(url, [second["id"]], statuses=("sent", "delivered"), timeout=60)
    gateway.clock.advance(3600)  # its retries back off: due now
    wait_for_statuses(url, [second["id"]], statuses=("delivered",), timeout=60)

    # Unknown destination handset: the number is suppressed, and the next notification to it too.
    third = sms_notification("+14155550103", "Your code is 111111")
    publish(pipeline, [third])
    wait_for_statuses(url, [third["id"]], statuses=("sent",), timeout=60)
    undelivered = fake_twilio.status_callback(fake_twilio.messages[-1], "undelivered", post_to, error_code=30005)
    assert undelivered.json()["matched"] == 1
    wait_for_statuses(url, [third["id"]], statuses=("undelivered",), timeout=60)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT tenant, channel, address, reason, source, detail FROM suppressions").fetchall() == [
            ("acme", "sms", "+14155550103", "unreachable", "provider:twilio", "30005")]
        assert conn.execute("SELECT error_class, provider FROM deliveries WHERE status = 'undelivered'").fetchall() == [
            ("30005", "twilio")]
    fourth = sms_notification("+1 415 555 0103", "Your code is 222222")
    publish(pipeline, [fourth])
    wait_for_statuses(url, [fourth["id"]], statuses=("suppressed",), timeout=60)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT reason, stage FROM deliveries WHERE notification_id = %s",
                            [fourth["id"]]).fetchone() == ("address_suppressed", "router")
    assert len(fake_twilio.messages) == 3  # Twilio never saw the fourth

    # What the operator sees: the timeline (gateway and `tidings status`) and the statistics.
    timeline = gateway.request("GET", f"/v1/notifications/{first['id']}", token).json()
    assert [(e["status"], e["provider"]) for e in timeline["events"]] == [
        ("queued", None), ("sent", "twilio"), ("delivered", "twilio")]
    status = subprocess.run([sys.executable, "-m", "cli.main", "status", third["id"]], capture_output=True, text=True,
                            env={"TIDINGS_DATABASE_URL": url, "COLUMNS": "200", "PATH": ""}, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "undelivered" in status.stdout and "30005" in status.stdout and "1 undelivered" in status.stdout
    # The gateway's clock was moved on an hour: a window of 3 hours before it holds the test's deliveries.
    stats = gateway.request("GET", "/v1/stats", token, params={"since": "3h"}).json()["totals"]
    assert {k: stats[k] for k in ("total", "sent", "delivered", "undelivered", "suppressed")} == {
        "total": 4, "sent": 3, "delivered": 2, "undelivered": 1, "suppressed": 1}
    assert (stats["sent_rate"], stats["delivered_rate"]) == (0.75, 0.5)
    table = subprocess.run([sys.executable, "-m", "cli.main", "stats", "--since", "1h", "--json"], capture_output=True,
                           text=True, env={"TIDINGS_DATABASE_URL": url, "PATH": ""}, timeout=60)
    assert json.loads(table.stdout)["totals"]["delivered_rate"] == 0.5
