"""The SMS channel end to end: router -> `tidings run channel sms` -> the real twilio client ->
a fake Twilio REST server, with cost, opt-outs and invalid numbers tracked in Postgres."""
from __future__ import annotations

import psycopg

from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.pipeline import make_notifications, publish, wait_for_statuses


def sms_notification(phone: str, text: str) -> dict:
    (notification,) = make_notifications(1, "", channels=("sms",))
    notification["recipient"]["phone"] = phone
    notification["content"] = {"sms": {"template": None, "subject": None, "text": text, "html": None, "options": "{}"}}
    return notification


def test_sms_sent_suppressed_and_refused_through_the_pipeline(pipeline, services, fake_twilio):
    env = {"TIDINGS_SMS_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TIDINGS_SMS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TIDINGS_SMS_TWILIO_FROM": "+15005550006", "TIDINGS_SMS_TWILIO_BASE_URL": fake_twilio.base_url,
           "TIDINGS_SMS_DEFAULT_REGION": "GB", "TIDINGS_SMS_PRICES": "twilio=0.04"}
    _, channel, _ = services.start_pipeline("sms", **env)
    fake_twilio.opted_out.add("+447911123457")

    sent = sms_notification("07911 123456", "Your code is 123456 — valid for 10 minutes")  # national format, UCS-2 dash
    stopped = sms_notification("+44 7911 123457", "Sale!")
    invalid = sms_notification("12", "hello")
    publish(pipeline, [sent, stopped, invalid])
    wait_for_statuses(pipeline.database_url, [sent["id"]], statuses=("sent",), timeout=60)
    wait_for_statuses(pipeline.database_url, [stopped["id"]], statuses=("suppressed",), timeout=60)
    wait_for_statuses(pipeline.database_url, [invalid["id"]], statuses=("dead_lettered",), timeout=60)

    assert [m["To"] for m in fake_twilio.messages] == ["+447911123456"]  # normalised to E.164
    with psycopg.connect(pipeline.database_url) as conn:
        rows = {n: (status, provider, cost, reason, error) for n, status, provider, cost, reason, error in conn.execute(
            "SELECT notification_id::text, status, provider, cost, reason, error_class FROM deliveries").fetchall()}
    assert rows[sent["id"]][:3] == ("sent", "twilio", rows[sent["id"]][2]) and float(rows[sent["id"]][2]) == 0.04
    assert rows[stopped["id"]][0] == "suppressed" and rows[stopped["id"]][3] == "opted_out"
    assert rows[invalid["id"]][0] == "dead_lettered" and rows[invalid["id"]][4] == "invalid_phone_number"
    assert AUTH_TOKEN not in channel.log()
