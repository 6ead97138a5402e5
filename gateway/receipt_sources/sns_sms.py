"""SNS SMS delivery status (the record SNS writes for every SMS it sent, forwarded to a topic) read
into a receipt: SUCCESS is delivered, FAILURE undelivered, matched by `notification.messageId`, the
MessageId Publish answered (channels/sms/sns.py records it as the provider message id)."""
from __future__ import annotations

import re
from datetime import datetime

from gateway.receipt_sources.report_fields import Malformed, reported_at, short_text
from tracking.receipts import Receipt

STATUSES = {"SUCCESS": "delivered", "FAILURE": "undelivered"}
# SNS writes the same record for a topic's HTTP or SQS deliveries; only a phone number is an SMS.
PHONE = re.compile(r"\+[0-9]{6,15}")
# providerResponse -> error_code. "invalid_number" says the number itself is dead (the suppression
# list takes it at once), "unreachable" that the phone is out of reach for now (a soft bounce:
# tracking/receipts.py); the others are about the message or the route.
REASONS = (("invalid phone number", "invalid_number"), ("invalid destination", "invalid_number"),
           ("phone is currently unreachable", "unreachable"), ("opted out", "opted_out"),
           ("blocked", "blocked"), ("too long", "too_long"), ("carrier", "carrier_error"),
           ("ttl expired", "expired"))



def is_sms_status(message: dict) -> bool:
    return (isinstance(message.get("notification"), dict) and isinstance(message.get("delivery"), dict)
            and "status" in message)


def sms_receipts(message: dict, arrived: datetime) -> list[Receipt]:
    """One receipt, or none for a record that is not about an SMS."""
    notification, delivery = message["notification"], message["delivery"]
    destination = delivery.get("destination")
    if not isinstance(destination, str) or not PHONE.fullmatch(destination):
        return []
    status = STATUSES.get(str(message.get("status")))
    message_id = notification.get("messageId")
    if status is None:
        raise Malformed(f"status: {str(message.get('status'))[:40]!r} is not SUCCESS or FAILURE")
    if not isinstance(message_id, str) or not message_id or len(message_id) > 256:
        raise Malformed("notification.messageId: required, a string")
    response = short_text(delivery.get("providerResponse"))
    # One final record per SMS: the id and status name it, however often it is forwarded.
    return [Receipt(receipt_id=f"sns:{message_id}:{status}", source="sns", channel="sms", status=status,
                    occurred_at=reported_at(notification.get("timestamp"), arrived), provider_message_id=message_id,
                    address=destination, error_code=error_code(response) if status == "undelivered" else None,
                    detail=response)]


def error_code(response: str | None) -> str:
    text = (response or "").lower()
    return next((code for phrase, code in REASONS if phrase in text), "failure")
