"""Receipts: what a provider tells Tidings after `sent` (an SMS delivered or undelivered, an email
bounced or complained about), as one shape whatever the source (Twilio status callbacks, SNS/SES
notifications, RFC 3464 bounce reports). Each is matched to its delivery and recorded as a
DeliveryEvent after `sent`."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

# The statuses a receipt may record, after `sent` (defined with the others in consumer/statuses.py).
from consumer.statuses import RECEIPT_STATUSES

BOUNCE_KINDS = ("hard", "soft")


@dataclass(frozen=True)
class Receipt:
    receipt_id: str  # unique per provider report: the same report sent twice is recorded once
    source: str  # twilio | sns | ses | dsn
    channel: str  # sms | email
    status: str  # one of RECEIPT_STATUSES
    occurred_at: datetime
    # How it is matched to its delivery: the id the provider answered at send time (the delivery
    # log's provider_message_id: Twilio's MessageSid, SNS's MessageId, SES's messageId), or the
    # delivery id itself when the report carries it (a VERP return path).
    provider_message_id: str | None = None
    delivery_id: str | None = None
    bounce: str | None = None  # hard | soft, for `bounced`
    address: str | None = None  # the recipient's address as the report names it (suppression)
    error_code: str | None = None  # Twilio's ErrorCode, an SMTP status such as 5.1.1, SES's bounce subtype
    detail: str | None = None  # a short human-readable reason

    def __post_init__(self) -> None:
        if self.status not in RECEIPT_STATUSES:
            raise ValueError(f"receipt status {self.status!r} is not one of {', '.join(RECEIPT_STATUSES)}")
        if (self.bounce is not None) != (self.status == "bounced") or self.bounce not in (None, *BOUNCE_KINDS):
            raise ValueError("a bounced receipt is hard or soft; no other receipt has a bounce kind")
        if not (self.provider_message_id or self.delivery_id):
            raise ValueError("a receipt names its delivery by provider_message_id or delivery_id")


# An `undelivered` receipt's error codes, per source, that say what a bounce would: the number does
# not exist or cannot take messages (listed at once, reason `unreachable`), or it could not be
# reached this time (counted as a soft bounce: TIDINGS_SOFT_BOUNCE_LIMIT of them list it). Twilio
# (https://www.twilio.com/docs/api/errors): 30005 unknown destination handset, 30006 landline or
# unreachable carrier; 30003 unreachable handset, "usually temporary" (switched off, no signal).
UNREACHABLE_CODES: dict[str, frozenset[str]] = {"twilio": frozenset({"30005", "30006"}),
                                                "sns": frozenset({"invalid_number"})}
# The phone is off or out of reach for now (SNS: "Phone is currently unreachable/unavailable"): a soft bounce.
UNAVAILABLE_CODES: dict[str, frozenset[str]] = {"twilio": frozenset({"30003"}), "sns": frozenset({"unreachable"})}

# What a receipt does to its address on the tenant's suppression list (router/suppressions.py).
HARD_BOUNCE, COMPLAINT, UNREACHABLE, SOFT_BOUNCE, DELIVERED = (
    "hard_bounce", "complaint", "unreachable", "soft_bounce", "delivered")

_EVENT_NAMESPACE = uuid.UUID("0b6f7a52-3c1e-4f5e-9a57-2d8c1f4e6b21")


def receipt_event_id(receipt_id: str) -> str:
    """The DeliveryEvent id of a receipt: the same however often it is published, so the sink
    records it once."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"receipt/{receipt_id}"))


def listing(receipt: Receipt) -> str | None:
    """hard_bounce, complaint or unreachable (suppress the address at once), soft_bounce (count it),
    delivered (its soft bounces no longer count), or None (nothing to do)."""
    if receipt.status == "bounced":
        return HARD_BOUNCE if receipt.bounce == "hard" else SOFT_BOUNCE
    if receipt.status == "complained":
        return COMPLAINT
    if receipt.status == "delivered":
        return DELIVERED
    code = (receipt.error_code or "").strip()
    if code in UNREACHABLE_CODES.get(receipt.source, ()):
        return UNREACHABLE
    if code in UNAVAILABLE_CODES.get(receipt.source, ()):
        return SOFT_BOUNCE
    return None
