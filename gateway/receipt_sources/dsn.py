"""RFC 3464 delivery status notifications (the bounce reports mail servers send back to the return
path) read into receipts: per recipient, `failed` is a bounce (Status 5.x.x hard, 4.x.x soft) and
`delivered` a delivery; `delayed`, `relayed` and `expanded` say nothing final and are left out.

The delivery is named by the return path the email channel set (channels/email/verp.py): the
envelope recipient the mail server passes on, else the report's To / Delivered-To headers; failing
those, by the returned headers' Message-ID (`<delivery id@domain>`, or kept as the provider message id)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser, Parser
from email.utils import getaddresses

from channels.email.verp import delivery_of, delivery_of_message_id
from gateway.receipt_sources.report_fields import Malformed, reported_at, short_text
from tracking.receipts import Receipt

REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")  # RFC 3464, RFC 6533 (UTF-8)
HEADER_TYPES = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers", "message/rfc822")
# The headers a mail server's local delivery (or the forwarder) leaves naming the envelope recipient.
RECIPIENT_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
STATUS = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
MAX_PARTS = 200  # parts walked looking for the report
MAX_RECIPIENTS = 100
MAX_ADDRESS = 512



@dataclass(frozen=True)
class DeliveryNames:
    """What the email channel put into a message that names its delivery."""

    bounce_address: str | None  # TIDINGS_SMTP_BOUNCE_ADDRESS
    message_id_domain: str  # TIDINGS_SMTP_MESSAGE_ID_DOMAIN


@dataclass(frozen=True)
class ReadReport:
    receipts: list[Receipt]
    unmatched: int  # final recipients the report names no delivery for


def dsn_receipts(raw: bytes, names: DeliveryNames, arrived: datetime,
                 envelope_recipient: str | None = None) -> ReadReport:
    """The receipts of one report (a message whose MIME tree holds a multipart/report with
    report-type=delivery-status: the report itself, or a message that forwards it)."""
    try:
        return _read(raw, names, arrived, envelope_recipient)
    except Malformed:
        raise
    except (ValueError, TypeError, IndexError, LookupError, AttributeError) as exc:
        # The stdlib's header parsing raises on some malformed values instead of noting a defect.
        raise Malformed(f"the report cannot be parsed: {type(exc).__name__}") from None


def _read(raw: bytes, names: DeliveryNames, arrived: datetime, envelope_recipient: str | None) -> ReadReport:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    report = _report(message)
    per_message, *per_recipient = _status_blocks(report)
    original = _original_headers(report)
    message_id = str(original.get("Message-ID") or "").strip() if original is not None else ""
    delivery_id = None
    if names.bounce_address:
        recipients = _recipient_addresses(envelope_recipient, report, message)
        delivery_id = next(filter(None, (delivery_of(names.bounce_address, a) for a in recipients)), None)
    delivery_id = delivery_id or (delivery_of_message_id(names.message_id_domain, message_id) if message_id else None)
    provider_message_id = None if delivery_id else _bracketed(message_id)
    # The same report posted twice (a forwarder's retry) has the same receipt ids.
    report_key = str(message.get("Message-ID") or "").strip()
    key = hashlib.sha256(report_key.encode("utf-8", "replace") if report_key else raw).hexdigest()[:32]
    receipts, unmatched = [], 0
    for block in per_recipient[:MAX_RECIPIENTS]:
        status = _status(block)
        if status is None:
            continue
        if not (delivery_id or provider_message_id):
            unmatched += 1
            continue
        kind, bounce, code = status
        address = _address(block.get("Original-Recipient")) or _address(block.get("Final-Recipient"))
        at = reported_at(block.get("Last-Attempt-Date") or per_message.get("Arrival-Date") or message.get("Date"),
                         arrived)
        receipts.append(Receipt(
            receipt_id=f"dsn:{key}:{address or len(receipts)}", source="dsn", channel="email", status=kind,
            occurred_at=at, provider_message_id=provider_message_id, delivery_id=delivery_id, bounce=bounce,
            address=address, error_code=code, detail=short_text(block.get("Diagnostic-Code"))))
    return ReadReport(receipts, unmatched)


def _report(message: Message) -> Message:
    for count, part in enumerate(message.walk()):
        if count > MAX_PARTS:
            break
        if part.get_content_type() == "multipart/report" and \
                str(part.get_param("report-type") or "").lower() == "delivery-status":
            return part
    raise Malformed("not a delivery status notification: no multipart/report; report-type=delivery-status")


def _status_blocks(report: Message) -> list[Message]:
    """The per-message fields, then one block per recipient."""
    part = next((p for p in report.iter_parts() if p.get_content_type() in REPORT_TYPES), None)
    if part is None:
        raise Malformed("the report has no message/delivery-status part")
    blocks = part.get_payload()
    if not isinstance(blocks, list):  # not parsed into blocks (message/global-delivery-status): do it here
        text = part.get_payload(decode=True) or b""
        blocks = [Parser(policy=policy.default).parsestr(chunk, headersonly=True)
                  for chunk in re.split(r"\r?\n\s*\r?\n", text.decode("utf-8", "replace")) if chunk.strip()]
    if len(blocks) < 2:
        raise Malformed("the delivery status names no recipient")
    return blocks


def _original_headers(report: Message) -> Message | None:
    part = next((p for p in report.iter_parts() if p.get_content_type() in HEADER_TYPES), None)
    if part is None:
        return None
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: the returned message itself
        return payload[0] if payload else None
    text = part.get_payload(decode=True) or b""
    return Parser(policy=policy.default).parsestr(text.decode("utf-8", "replace"), headersonly=True)


def _recipient_addresses(envelope_recipient: str | None, report: Message, message: Message) -> list[str]:
    """Where the report was sent, the envelope's word first; the headers of the message that carried
    it and of the report (when it was forwarded inside another)."""
    found = [envelope_recipient] if envelope_recipient else []
    for holder in (message, report) if report is not message else (message,):
        for name in RECIPIENT_HEADERS:
            values = [str(v) for v in holder.get_all(name) or ()]
            found += [address for _, address in getaddresses(values) if address]
    return found


def _status(block: Message) -> tuple[str, str | None, str | None] | None:
    """(receipt status, bounce kind, status code) of a recipient block; None when it is not final."""
    action = str(block.get("Action") or "").strip().lower()
    found = STATUS.match(str(block.get("Status") or ""))
    code = ".".join(found.groups()) if found else None
    if action == "delivered":
        return "delivered", None, code
    if action == "failed":
        # A failed action is final; a 4.x.x one (a server that gave up retrying) may pass later.
        return "bounced", "soft" if code and code.startswith("4") else "hard", code
    return None


def _address(field: object) -> str | None:
    """`rfc822; ada@example.org` -> ada@example.org (another address type, or none: None)."""
    kind, sep, value = str(field or "").partition(";")
    if not sep or kind.strip().lower() not in ("rfc822", "utf-8"):
        return None
    address = value.strip().strip("<>").strip()
    if "@" not in address or len(address) > MAX_ADDRESS or not address.isprintable():
        return None
    return address


def _bracketed(message_id: str) -> str | None:
    """A Message-ID as the email channel records it (`<...>`), or None for none."""
    inner = message_id.strip().strip("<>").strip()
    if not inner or len(inner) > MAX_ADDRESS or not inner.isprintable() or " " in inner:
        return None
    return f"<{inner}>"
