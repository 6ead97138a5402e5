"""The receipt sources' endpoints on the running gateway: SNS messages signed with a test certificate
served on loopback (confirmed, recorded, or refused with 403 and nothing recorded), and bounce reports
about mail the email channel sent through an SMTP server under test, returned over SMTP as real
multipart/report messages to the VERP address and posted by the mail server's pipe.

What the endpoints hand to gateway/receipts.py is recorded here in place of its ingest(), so the
receipts themselves are what is asserted."""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import aiosmtplib
import pytest

from consumer.settings import Settings
from gateway import receipts as receipts_module
from tests.channels.test_email import SENDER, channel_message, send_all
from tests.fixtures.dsn import bounce_report, recipient
from tests.fixtures.sns import TOPIC
from tests.gateway.conftest import make_token

SAMPLES = Path(__file__).parent / "receipt_sources" / "samples"
SNS = "/v1/receipts/sns"
DSN = "/v1/receipts/dsn"
BOUNCES = "bounces@example.com"
# How SNS posts: JSON as text/plain, with its own headers.
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent"}


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


@pytest.fixture
def ingested(monkeypatch) -> list:
    """The receipts the endpoints hand over, in order."""
    got = []

    async def ingest(gateway, receipts):
        got.extend(receipts)
        return {"recorded": len(receipts)}

    monkeypatch.setattr(receipts_module, "ingest", ingest)
    return got


@pytest.fixture
def sns_gateway(start_gateway, fake_sns):
    return start_gateway(gateway_sns_topic_arns=f"{TOPIC},arn:aws:sns:eu-west-1:123456789012:other",
                         gateway_sns_url_prefixes=fake_sns.base)


def post_sns(gateway, message: dict | str | bytes):
    body = message if isinstance(message, (str, bytes)) else json.dumps(message)
    kind = message.get("Type", "") if isinstance(message, dict) else ""
    return gateway.request("POST", SNS, content=body, headers={**SNS_HEADERS, "x-amz-sns-message-type": kind})


def test_a_subscription_confirmation_signed_by_sns_is_confirmed(sns_gateway, fake_sns, ingested):
    answer = post_sns(sns_gateway, fake_sns.confirmation(version="2"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"type": "SubscriptionConfirmation", "confirmed": True, "receipts": 0}
    [query] = fake_sns.confirmations
    assert query["TopicArn"] == TOPIC
    unsubscribed = post_sns(sns_gateway, fake_sns.confirmation(kind="UnsubscribeConfirmation"))
    assert unsubscribed.status_code == 200 and len(fake_sns.confirmations) == 1  # not re-subscribed
    assert ingested == []


def test_ses_notifications_and_sms_delivery_status_are_recorded(sns_gateway, fake_sns, ingested):
    for name, count in (("ses_bounce_permanent", 2), ("ses_complaint", 1), ("ses_delivery", 1),
                        ("sns_sms_failure", 1), ("ses_event_send", 0)):
        message = fake_sns.notification(sample(name), subject="Amazon SES Email Event Notification")
        answer = post_sns(sns_gateway, message)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["receipts"] == count, name
    assert [(r.source, r.status, r.bounce, r.address) for r in ingested] == [
        ("ses", "bounced", "hard", "jane@example.com"), ("ses", "bounced", "hard", "richard@example.com"),
        ("ses", "complained", None, "richard@example.com"), ("ses", "delivered", None, "jane@example.com"),
        ("sns", "undelivered", None, "+15555550101")]
    assert ingested[0].provider_message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
    assert fake_sns.certificate_fetches == 1  # one certificate, fetched once


def test_what_sns_did_not_sign_is_refused_with_403_and_nothing_is_recorded(sns_gateway, fake_sns, sns_signing_keys,
                                                                          ingested):
    bounce = sample("ses_bounce_permanent")
    genuine = fake_sns.notification(bounce)
    cases = {
        "changed after signing": {**genuine, "Message": genuine["Message"].replace("Permanent", "Transient")},
        "a forger's key": fake_sns.notification(bounce, key=sns_signing_keys["forger"]),
        "a topic not allowed": fake_sns.notification(bounce, topic="arn:aws:sns:eu-west-1:123456789012:stranger"),
        "a certificate off SNS's hosts": fake_sns.notification(
            bounce, certificate_url="https://sns.eu-west-1.amazonaws.com.evil.test/SimpleNotificationService-1.pem"),
        "a forged confirmation": fake_sns.confirmation(key=sns_signing_keys["forger"]),
    }
    for case, message in cases.items():
        answer = post_sns(sns_gateway, message)
        assert answer.status_code == 403, (case, answer.text)
    assert ingested == [] and fake_sns.confirmations == []


def test_a_gateway_that_allows_no_topic_refuses_every_sns_message(start_gateway, fake_sns, ingested):
    gateway = start_gateway(gateway_sns_url_prefixes=fake_sns.base)
    assert post_sns(gateway, fake_sns.notification(sample("ses_delivery"))).status_code == 403
    assert ingested == [] and fake_sns.certificate_fetches == 0


def test_malformed_or_oversized_sns_messages(sns_gateway, fake_sns, ingested):
    assert post_sns(sns_gateway, "not json").status_code == 400
    assert post_sns(sns_gateway, {"Type": "Notification"}).status_code == 400
    not_json = post_sns(sns_gateway, fake_sns.notification("plain text, not a notification"))
    assert not_json.status_code == 400 and not_json.json()["error"].startswith("Message")
    broken = sample("ses_bounce_permanent")
    del broken["bounce"]["bouncedRecipients"]
    assert post_sns(sns_gateway, fake_sns.notification(broken)).status_code == 400
    huge = fake_sns.notification({"padding": "x" * (600 * 1024)})
    assert post_sns(sns_gateway, huge).status_code == 413
    assert ingested == []


# --- bounce reports ---


def send_one(server, **settings) -> tuple[str, bytes]:
    """(delivery id, the message) sent by the email channel to ada@example.org through `server`."""
    delivery_id = str(uuid.uuid4())
    config = Settings(smtp_host=server.host, smtp_port=server.port, smtp_tls="none", smtp_from=SENDER,
                      smtp_message_id_domain="tidings.test", **settings)
    [outcome] = send_all(config, [channel_message(delivery_id, address="ada@example.org")])
    assert outcome.provider_message_id, outcome
    return delivery_id, server.received[-1]


def bounce_over_smtp(server, report: bytes, return_path: str):
    """The remote server's bounce: MAIL FROM:<> to the return path, as RFC 3464 has it sent."""
    async def send() -> None:
        async with aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=False) as smtp:
            await smtp.mail("")  # the null reverse-path: nobody to bounce a bounce to
            await smtp.rcpt(return_path)
            await smtp.data(report)
    asyncio.run(send())
    return server.received[-1]


def test_a_bounce_report_about_a_sent_email_is_a_bounce_of_its_delivery(start_gateway, smtp_server, ingested):
    server = smtp_server(tls="none", auth=False)
    delivery_id, sent = send_one(server, smtp_bounce_address=BOUNCES)
    assert sent.mail_from == f"bounces+{delivery_id}@example.com"  # the envelope sender: VERP
    hard = bounce_report(sent.content, sent.mail_from, [recipient("ada@example.org")])
    bounced = bounce_over_smtp(server, hard, sent.mail_from)
    assert bounced.mail_from == "<>" and bounced.rcpt_tos == [sent.mail_from]  # aiosmtpd keeps <> as written

    gateway = start_gateway(smtp_bounce_address=BOUNCES, smtp_message_id_domain="tidings.test")
    token = make_token("mx", scopes=["receipts"])
    # The mail server's pipe posts the message as it arrived, with the envelope recipient.
    answer = gateway.request("POST", DSN, token, content=bounced.content, params={"recipient": bounced.rcpt_tos[0]},
                             headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"receipts": 1, "unmatched": 0, "recorded": 1}
    [receipt] = ingested
    assert (receipt.delivery_id, receipt.status, receipt.bounce, receipt.error_code, receipt.address) == (
        delivery_id, "bounced", "hard", "5.1.1", "ada@example.org")

    # A soft one, posted as the multipart/report body with its Content-Type.
    soft = bounce_over_smtp(server, bounce_report(sent.content, sent.mail_from,
                                                  [recipient("ada@example.org", "failed", "4.2.2")]), sent.mail_from)
    body = re.split(rb"\r?\n\r?\n", soft.content, maxsplit=1)[1]
    answer = gateway.request("POST", DSN, token, content=body, headers={"Content-Type": str(soft.email["Content-Type"])})
    assert answer.status_code == 200, answer.text
    assert [(r.delivery_id, r.bounce, r.error_code) for r in ingested[1:]] == [(delivery_id, "soft", "4.2.2")]


def test_the_envelope_recipient_a_pipe_passes_unencoded_names_the_delivery(start_gateway, ingested):
    gateway = start_gateway(smtp_bounce_address=BOUNCES)  # Message-IDs of another domain: not read as ours
    delivery_id = str(uuid.uuid4())
    returned = f"From: {SENDER}\r\nTo: ada@example.org\r\nMessage-ID: <{delivery_id}@tidings.test>\r\n\r\n".encode()
    report = bounce_report(returned, "postmaster@example.com", [recipient("ada@example.org")])
    token, headers = make_token(scopes=["receipts"]), {"Content-Type": "message/rfc822"}
    assert gateway.request("POST", DSN, token, content=report, headers=headers).json()["receipts"] == 1
    # Postfix's ${original_recipient} put into the URL as it is: its + arrives as a space.
    answer = gateway.request("POST", f"{DSN}?recipient=bounces+{delivery_id}@example.com", token, content=report,
                             headers=headers)
    assert answer.status_code == 200, answer.text
    assert [(r.delivery_id, r.provider_message_id) for r in ingested] == [
        (None, f"<{delivery_id}@tidings.test>"), (delivery_id, None)]


def test_bounce_reports_need_a_token_with_the_receipts_scope_for_every_tenant(gateway, ingested):
    report = bounce_report(b"Message-ID: <x@tidings>\r\n\r\n", "bounces@example.com", [recipient("ada@example.org")])
    headers = {"Content-Type": "message/rfc822"}
    assert gateway.request("POST", DSN, content=report, headers=headers).status_code == 401
    assert gateway.request("POST", DSN, make_token(scopes=["read"]), content=report, headers=headers).status_code == 403
    one_tenant = make_token(scopes=["receipts"], tenants=["acme"])
    assert gateway.request("POST", DSN, one_tenant, content=report, headers=headers).status_code == 403
    assert ingested == []


def test_malformed_or_oversized_bounce_reports(gateway, ingested):
    token = make_token(scopes=["receipts"])
    rfc822 = {"Content-Type": "message/rfc822"}
    assert gateway.request("POST", DSN, token, content=b"<p>hi</p>",
                           headers={"Content-Type": "text/html"}).status_code == 415
    assert gateway.request("POST", DSN, token, content=b"", headers=rfc822).status_code == 400
    vacation = b"From: ada@example.org\r\nSubject: Out of office\r\n\r\nBack on Monday.\r\n"
    answer = gateway.request("POST", DSN, token, content=vacation, headers=rfc822)
    assert answer.status_code == 400 and "delivery status" in answer.json()["error"]
    huge = bounce_report(b"Subject: x\r\n\r\n" + b"y" * (1100 * 1024), "b@example.com", [recipient("a@example.org")],
                         as_message_rfc822=True)
    assert gateway.request("POST", DSN, token, content=huge, headers=rfc822).status_code == 413
    assert ingested == []
