"""SES notifications as SNS carries them (bounce, complaint, delivery; the identity notifications'
`notificationType` or a configuration set's `eventType`), read into one receipt per recipient,
matched by SES's `mail.messageId`: the id SES answered the send with (`250 Ok <id>`), which the
delivery log holds as the provider message id."""
from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr

from gateway.receipt_sources.report_fields import Malformed, reported_at, short_text
from tracking.receipts import Receipt

# SES's bounce types: Permanent ends the address; Transient (a full mailbox, a message too large)
# and Undetermined (SES could not tell) may pass.
BOUNCE_KINDS = {"Permanent": "hard", "Transient": "soft", "Undetermined": "soft"}
MAX_RECIPIENTS = 100  # SES sends to 50 at most; more is not SES



def is_ses(message: dict) -> bool:
    return isinstance(message.get("mail"), dict) and ("notificationType" in message or "eventType" in message)


def ses_receipts(message: dict, report_id: str, arrived: datetime) -> list[Receipt]:
    """The receipts of one notification (none for the event types that are not receipts: Send,
    Reject, Open, Click, DeliveryDelay, ...); `report_id` is the SNS MessageId, the same on every
    retry of the notification."""
    kind = message.get("notificationType") or message.get("eventType")
    mail_id = message["mail"].get("messageId")
    if not isinstance(mail_id, str) or not mail_id:
        raise Malformed("mail.messageId: required, a string")
    if kind == "Bounce":
        bounce = _object(message, "bounce")
        kind_of_bounce = BOUNCE_KINDS.get(str(bounce.get("bounceType")), "soft")
        at, subtype = reported_at(bounce.get("timestamp"), arrived), short_text(bounce.get("bounceSubType"))
        return [_receipt(report_id, mail_id, "bounced", address, at, bounce=kind_of_bounce, error_code=subtype,
                         detail=short_text(" ".join(str(entry[k]) for k in ("status", "diagnosticCode")
                                                    if entry.get(k))))
                for address, entry in _recipients(bounce, "bouncedRecipients")]
    if kind == "Complaint":
        complaint = _object(message, "complaint")
        feedback = short_text(complaint.get("complaintFeedbackType") or complaint.get("complaintSubType"))
        return [_receipt(report_id, mail_id, "complained", address, reported_at(complaint.get("timestamp"), arrived),
                         error_code=feedback, detail=feedback)
                for address, _ in _recipients(complaint, "complainedRecipients")]
    if kind == "Delivery":
        delivery = _object(message, "delivery")
        return [_receipt(report_id, mail_id, "delivered", address, reported_at(delivery.get("timestamp"), arrived),
                         detail=short_text(delivery.get("smtpResponse")))
                for address, _ in _recipients(delivery, "recipients")]
    return []


def _receipt(report_id: str, mail_id: str, status: str, address: str, at: datetime, **fields) -> Receipt:
    return Receipt(receipt_id=f"ses:{report_id}:{address}", source="ses", channel="email", status=status,
                   occurred_at=at, provider_message_id=mail_id, address=address, **fields)


def _object(message: dict, name: str) -> dict:
    if not isinstance(message.get(name), dict):
        raise Malformed(f"{name}: required, an object")
    return message[name]


def _recipients(part: dict, name: str) -> list[tuple[str, dict]]:
    """(address, its entry) for each recipient; bounce and complaint entries are objects with an
    emailAddress, delivery recipients plain strings."""
    entries = part.get(name)
    if not isinstance(entries, list) or not entries or len(entries) > MAX_RECIPIENTS:
        raise Malformed(f"{name}: expected a list of 1 to {MAX_RECIPIENTS} recipients")
    found = []
    for entry in entries:
        raw = entry.get("emailAddress") if isinstance(entry, dict) else entry
        if not isinstance(raw, str) or "@" not in raw or len(raw) > 512 or not raw.isprintable():
            raise Malformed(f"{name}: every recipient needs an email address")
        found.append((parseaddr(raw)[1] or raw.strip(), entry if isinstance(entry, dict) else {}))
    return found
