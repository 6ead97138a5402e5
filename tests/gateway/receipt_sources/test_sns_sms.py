"""SNS SMS delivery status records (AWS's examples, kept in samples/) read into receipts: SUCCESS
delivered, FAILURE undelivered with an error code, matched by the MessageId Publish answered."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.receipt_sources.report_fields import Malformed
from gateway.receipt_sources.sns_sms import error_code, is_sms_status, sms_receipts
from tracking.receipts import UNAVAILABLE_CODES, UNREACHABLE_CODES

SAMPLES = Path(__file__).parent / "samples"
ARRIVED = datetime(2030, 1, 1, tzinfo=timezone.utc)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def test_success_is_delivered_and_failure_undelivered():
    [delivered] = sms_receipts(sample("sns_sms_success"), ARRIVED)
    assert (delivered.source, delivered.channel, delivered.status) == ("sns", "sms", "delivered")
    assert delivered.provider_message_id == "34d9b400-c6dd-5444-820d-fbeb0f1f54cf"
    assert delivered.address == "+15555550100" and delivered.error_code is None
    assert delivered.occurred_at == datetime(2016, 6, 28, 0, 40, 34, 558000, tzinfo=timezone.utc)
    [failed] = sms_receipts(sample("sns_sms_failure"), ARRIVED)
    assert (failed.status, failed.error_code, failed.detail) == (
        "undelivered", "failure", "Unknown error attempting to reach phone")
    assert failed.receipt_id == "sns:1077257a-92f3-5ca3-bc97-6a915b310625:undelivered"


def test_a_topics_own_delivery_status_is_not_about_an_sms():
    message = sample("sns_topic_delivery_status")
    assert is_sms_status(message) and sms_receipts(message, ARRIVED) == []


@pytest.mark.parametrize("response, code", [
    ("Invalid phone number", "invalid_number"), ("Phone is currently unreachable/unavailable", "unreachable"),
    ("Phone number is opted out", "opted_out"), ("Phone carrier has blocked this message", "blocked"),
    ("Phone carrier is currently unreachable/unavailable", "carrier_error"), ("Message is too long", "too_long"),
    (None, "failure")])
def test_the_providers_response_names_the_error(response, code):
    assert error_code(response) == code
    assert (code in UNREACHABLE_CODES["sns"]) == (code == "invalid_number")  # suppressed at once
    assert (code in UNAVAILABLE_CODES["sns"]) == (code == "unreachable")  # a soft bounce


def test_a_record_without_its_message_id_or_a_known_status_is_malformed():
    message = sample("sns_sms_failure")
    message["status"] = "MAYBE"
    with pytest.raises(Malformed, match="^status"):
        sms_receipts(message, ARRIVED)
    message = sample("sns_sms_failure")
    del message["notification"]["messageId"]
    with pytest.raises(Malformed, match="^notification.messageId"):
        sms_receipts(message, ARRIVED)
