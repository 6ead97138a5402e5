"""Receipts: what a provider tells Tidings after `sent` (an SMS delivered or undelivered, an email
bounced or complained about), as one shape whatever the source (Twilio status callbacks, SNS/SES
notifications, RFC 3464 bounce reports). Each is matched to its delivery and recorded as a
DeliveryEvent after `sent`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The statuses a receipt may record, after `sent`.
RECEIPT_STATUSES = ("delivered", "undelivered", "bounced", "complained")
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
