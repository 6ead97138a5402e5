"""Email channel, step one: turn a channel message into an EmailMessage and its SMTP envelope,
refusing (as data, before any connection) anything that could inject headers or is malformed."""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from email import headerregistry, policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

FORBIDDEN = ("\r", "\n", "\x00")
# Deliberately narrower than RFC 5321 (no quoted local parts, no address literals): what the
# envelope gets must be unambiguous, and nothing a notification needs falls outside it.
BARE_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"\\@]+@[^\s<>()\[\],;:\"\\@]+")


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The stdlib makes a new header class every time a header is set (a quarter of compose's
    time); make each one once."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        if key not in self._made:
            self._made[key] = super().__getitem__(name)
        return self._made[key]


SMTP_POLICY = policy.SMTP.clone(header_factory=_HeaderClasses())


class InvalidEmail(Exception):
    """The message cannot be sent as given; `error_class` names why (a Permanent outcome)."""

    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class


@dataclass(frozen=True)
class Composition:
    """What a message needs from the settings."""
    default_from: str | None
    message_id_domain: str = "tidings"
    max_attachment_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class Envelope:
    email: EmailMessage
    sender: str
    recipients: list[str]  # To, Cc and Bcc: what RCPT TO gets


def message_id(delivery_id: str, domain: str) -> str:
    """Derived from the delivery id, so every retry of a delivery carries the same Message-ID and
    receivers can deduplicate what at-least-once delivery sends twice."""
    return f"<{delivery_id}@{domain}>"


def compose(message: dict, config: Composition) -> Envelope:
    options = _options(message.get("options") or "{}")
    sender_header = _text(options.get("from") or config.default_from, "from")
    if not sender_header:
        raise InvalidEmail("missing_from", "no options.from and no TIDINGS_SMTP_FROM")
    sender = _mailbox(sender_header, "from")
    to = _mailbox(_text(message["address"], "address"), "address")
    cc = [_mailbox(a, "cc") for a in _addresses(options.get("cc"), "cc")]
    bcc = [_mailbox(a, "bcc") for a in _addresses(options.get("bcc"), "bcc")]

    email = EmailMessage(policy=SMTP_POLICY)
    email["From"] = sender_header
    email["To"] = to
    if cc:
        email["Cc"] = ", ".join(cc)
    # Bcc recipients go only into the envelope; a Bcc header would reveal them to everyone.
    reply_to = _text(options.get("reply_to"), "reply_to")
    if reply_to:
        email["Reply-To"] = ", ".join(_mailbox(a, "reply_to") for a in _addresses(reply_to, "reply_to"))
    subject = _text(message.get("subject"), "subject")
    if subject is not None:
        email["Subject"] = subject
    if isinstance(message.get("created_at"), datetime):
        email["Date"] = format_datetime(message["created_at"])
    email["Message-ID"] = message_id(str(message["delivery_id"]), config.message_id_domain)
    unsubscribe = _text(options.get("unsubscribe_url"), "unsubscribe_url")
    if unsubscribe:
        if not unsubscribe.startswith("https://") or any(c in unsubscribe for c in " <>"):
            raise InvalidEmail("invalid_options", "unsubscribe_url must be an https URL")
        email["List-Unsubscribe"] = f"<{unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058 one-click
    _body(email, message.get("text"), message.get("html"))
    _attach(email, options.get("attachments") or [], config.max_attachment_bytes)
    return Envelope(email, sender, _unique([to, *cc, *bcc]))


def _options(raw: str) -> dict:
    try:
        options = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidEmail("invalid_options", f"options is not JSON: {exc}") from None
    if not isinstance(options, dict):
        raise InvalidEmail("invalid_options", "options is not a JSON object")
    return options


def _text(value, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEmail("invalid_options", f"{field} must be a string")
    if any(c in value for c in FORBIDDEN):
        raise InvalidEmail("header_injection", f"{field} contains CR, LF or NUL")
    return value


def _addresses(value, field: str) -> list[str]:
    items = [value] if isinstance(value, str) else value or []
    if not isinstance(items, list):
        raise InvalidEmail("invalid_options", f"{field} must be a string or a list of strings")
    return [_text(item, field) for item in items]


def _mailbox(value: str, field: str) -> str:
    """The bare address of one mailbox ("Ada <ada@example.com>" -> "ada@example.com"); a value
    that parses as none or several addresses is refused rather than guessed at."""
    parsed = getaddresses([value])
    if len(parsed) != 1 or not BARE_ADDRESS.fullmatch(parsed[0][1]):
        raise InvalidEmail("invalid_address", f"{field}: not one email address: {value[:200]!r}")
    return parsed[0][1]


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())


def _body(email: EmailMessage, text: str | None, html: str | None) -> None:
    if text is None and html is None:
        raise InvalidEmail("no_content", "the message has neither text nor html")
    if text is not None:
        email.set_content(text)
        if html is not None:
            email.add_alternative(html, subtype="html")
    else:
        email.set_content(html, subtype="html")


def _attach(email: EmailMessage, attachments, limit: int) -> None:
    if not isinstance(attachments, list):
        raise InvalidEmail("invalid_options", "attachments must be a list")
    total = 0
    for item in attachments:
        if not isinstance(item, dict):
            raise InvalidEmail("invalid_options", "each attachment must be an object")
        filename = _text(item.get("filename"), "attachment filename") or "attachment"
        content_type = _text(item.get("content_type"), "attachment content_type") or "application/octet-stream"
        maintype, _, subtype = content_type.partition("/")
        if (not maintype or not subtype or maintype in ("multipart", "message")
                or any(c in content_type for c in " ;\"\\")):
            raise InvalidEmail("invalid_options", f"attachment content_type {content_type[:100]!r}")
        try:
            data = base64.b64decode(_text(item.get("content_base64"), "content_base64") or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEmail("invalid_options", f"attachment {filename[:100]!r} is not valid base64") from None
        total += len(data)
        if total > limit:
            raise InvalidEmail("attachment_too_large", f"attachments exceed {limit} bytes")
        email.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
