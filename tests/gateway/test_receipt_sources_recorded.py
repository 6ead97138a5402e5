"""The SNS and bounce-report endpoints with the real ingest behind them: an SES hard bounce signed by
SNS and an RFC 3464 report returned to the VERP address become `bounced` DeliveryEvents of the
deliveries the log recorded `sent`, and put the addresses on the tenant's suppression list."""
from __future__ import annotations

import json
import uuid

from tests.fixtures.dsn import bounce_report, recipient
from tests.fixtures.sns import TOPIC
from tests.gateway.conftest import make_token
from tests.gateway.test_receipt_ingress import SNS_HEADERS, sample
from tests.gateway.test_receipts import published, rows, sent, wait_for


def test_an_ses_bounce_and_a_bounce_report_are_recorded_and_suppress(start_gateway, pipeline, fake_sns):
    gateway = start_gateway(gateway_sns_topic_arns=TOPIC, gateway_sns_url_prefixes=fake_sns.base,
                            smtp_bounce_address="bounces@example.com")
    url = pipeline.database_url
    by_ses = sent(url, "email", "0100018f-ses-message-id")
    bounce = sample("ses_bounce_permanent")
    bounce["mail"]["messageId"] = "0100018f-ses-message-id"
    bounce["bounce"]["bouncedRecipients"] = bounce["bounce"]["bouncedRecipients"][:1]  # jane@example.com
    message = fake_sns.notification(bounce, subject="Amazon SES Email Event Notification")
    answer = gateway.request("POST", "/v1/receipts/sns", content=json.dumps(message),
                             headers={**SNS_HEADERS, "x-amz-sns-message-type": "Notification"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["receipts"], answer.json()["matched"]) == (1, 1)

    by_mail = sent(url, "email", None, recipient_id="bo")
    verp = f"bounces+{by_mail['delivery_id']}@example.com"
    returned = f"Message-ID: <{uuid.uuid4()}@tidings.test>\r\nTo: bo@example.org\r\n\r\nhello\r\n".encode()
    report = bounce_report(returned, verp, [recipient("bo@example.org")])
    answer = gateway.request("POST", "/v1/receipts/dsn", make_token("mx", scopes=["receipts"]), content=report,
                             headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["matched"] == 1

    events = wait_for(lambda: {str(e["delivery_id"]): e for e in published(pipeline) if e["status"] == "bounced"}
                      if len([e for e in published(pipeline) if e["status"] == "bounced"]) == 2 else None)
    assert (events[by_ses["delivery_id"]]["provider"], events[by_ses["delivery_id"]]["reason"]) == ("ses", "hard")
    assert (events[by_mail["delivery_id"]]["provider"], events[by_mail["delivery_id"]]["reason"]) == ("dsn", "hard")
    assert rows(url, 'SELECT tenant, channel, address, reason FROM suppressions ORDER BY address COLLATE "C"') == [
        ("acme", "email", "bo@example.org", "hard_bounce"), ("acme", "email", "jane@example.com", "hard_bounce")]
