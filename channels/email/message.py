"""Email channel, step one: turn a channel message into the bytes SMTP sends and their envelope,
refusing (as data, before any connection) anything that could inject headers or is malformed."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from email import headerregistry, policy
from email.utils import encode_rfc2231, format_datetime, getaddresses, quote
from functools import lru_cache

from channels.email.options import FORBIDDEN, MAX_LINE, EmailAttachment, EmailOptions
from channels.email.verp import return_path
from consumer.channel_options import read_options
from consumer.outcomes import Permanent

# Deliberately narrower than RFC 5321 (no quoted local parts, no address literals): what the
# envelope gets must be unambiguous, and nothing a notification needs falls outside it.
BARE_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"\\@]+@[^\s<>()\[\],;:\"\\@]+")
FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD stay within 78 characters (MUST within MAX_LINE, 998)
# Header sizes, checked before anything parses or encodes a value: the stdlib's folding and RFC 2047
# encoding grow faster than linearly (an 800 kB subject held the event loop for 70 s). A subject
# may fold over a few lines; any other value (an address with its name, a file name) fits on one;
# and the message's headers together stay within what relays accept without complaint.
MAX_SUBJECT_OCTETS = 2048
MAX_VALUE_OCTETS = MAX_LINE
MAX_HEADERS_OCTETS = 16 * 1024
# A body sent as it is must be 7-bit text without "=_", which starts every boundary below (and
# which quoted-printable and base64 never produce), so no boundary can occur inside a part.
NOT_7BIT_SAFE = re.compile(rb"[^\t\n\x20-\x7e]|=_")


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The stdlib makes a new header class for every header it parses (a quarter of its time);
    make each one once."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        if key not in self._made:
            self._made[key] = super().__getitem__(name)
        return self._made[key]


SMTP_POLICY = policy.SMTP.clone(header_factory=_HeaderClasses())
SMTPUTF8_POLICY = policy.SMTPUTF8.clone(header_factory=_HeaderClasses())


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
    bounce_address: str | None = None  # set: the envelope sender is its VERP form (channels/email/verp.py)


@dataclass(frozen=True)
class Envelope:
    content: bytes  # the message as DATA carries it: CRLF lines, 7-bit unless utf8
    sender: str
    recipients: list[str]  # To, Cc and Bcc: what RCPT TO gets
    message_id: str
    utf8: bool = False  # an address is not ASCII: the server must take SMTPUTF8

    @property
    def mail_options(self) -> list[str]:
        # A server offering SMTPUTF8 also offers 8BITMIME (RFC 6531 3.1), which UTF-8 headers need.
        return ["SMTPUTF8", "BODY=8BITMIME"] if self.utf8 else []


def message_id(delivery_id: str, domain: str) -> str:
    """Derived from the delivery id, so every retry of a delivery carries the same Message-ID and
    receivers can deduplicate what at-least-once delivery sends twice."""
    return f"<{delivery_id}@{domain}>"


def compose(message: dict, config: Composition) -> Envelope:
    # The options model refuses wrong types, line breaks (header_injection) and malformed values.
    options = read_options(EmailOptions, message.get("options"))
    if isinstance(options, Permanent):
        raise InvalidEmail(options.error_class, options.message)
    _check_sizes(message, options, config)
    sender_header = _text(options.sender or config.default_from, "from")
    if not sender_header:
        raise InvalidEmail("missing_from", "no options.from and no TIDINGS_SMTP_FROM")
    sender = _mailbox(sender_header, "from")
    to = _mailbox(_text(message["address"], "address"), "address")
    cc = [_mailbox(a, "cc") for a in options.cc or ()]
    bcc = [_mailbox(a, "bcc") for a in options.bcc or ()]
    reply_to = [_mailbox(options.reply_to, "reply_to")] if options.reply_to else []
    recipients = _unique([to, *cc, *bcc])
    # Non-ASCII addresses go with SMTPUTF8, and then the headers are UTF-8 too (RFC 6532); an address
    # has no encoded form in a 7-bit header (encoded-words are not allowed in one, RFC 2047 5).
    utf8 = not (sender + "".join(recipients) + "".join(reply_to)).isascii()
    if config.bounce_address:
        # The envelope sender, not the From header: bounces come back naming the delivery.
        sender = return_path(config.bounce_address, str(message["delivery_id"]))

    # The stdlib renders From (it repairs what a person typed; cached, it is the same on every
    # message); the other values are checked above or made here, so short ASCII ones go as they are.
    head = [_folded("From", sender_header, utf8), _header("To", to, utf8)]
    if cc:
        head.append(_header("Cc", ", ".join(cc), utf8))
    # Bcc recipients go only into the envelope; a Bcc header would reveal them to everyone.
    if reply_to:
        head.append(_header("Reply-To", ", ".join(reply_to), utf8))
    subject = _text(message.get("subject"), "subject")
    if subject is not None:
        head.append(_header("Subject", subject, utf8))
    if isinstance(message.get("created_at"), datetime):
        head.append(_header("Date", format_datetime(message["created_at"]), utf8))
    msg_id = message_id(str(message["delivery_id"]), config.message_id_domain)
    head.append(_header("Message-ID", msg_id, utf8))
    if options.unsubscribe_url:
        # One line as it is: the model checked it is printable ASCII within the line limit.
        head.append(f"List-Unsubscribe: <{options.unsubscribe_url}>\r\n")
        head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")  # RFC 8058 one-click
    head.append("MIME-Version: 1.0\r\n")
    body = _body(message.get("text"), message.get("html"))
    attachments = _attachments(options.attachments or (), config.max_attachment_bytes, utf8)
    if attachments:
        body = _multipart("mixed", [body, *attachments])
    return Envelope("".join(head).encode() + body, sender, recipients, msg_id, utf8)


def _header(name: str, value: str, utf8: bool) -> str:
    """One header line. For the values composed here, the stdlib writes a short printable ASCII
    one unchanged, so it goes as it is; anything longer or not ASCII the stdlib folds and encodes."""
    line = f"{name}: {value}\r\n"
    if len(line) <= FOLD_AT + 2 and value.isascii() and value.isprintable():
        return line
    return _folded(name, value, utf8)


@lru_cache(maxsize=1024)  # From repeats on every message, a non-ASCII Subject often across a batch
def _folded(name: str, value: str, utf8: bool) -> str:
    fold = SMTPUTF8_POLICY if utf8 else SMTP_POLICY
    try:
        return fold.header_factory(name, value).fold(policy=fold)
    except Exception:  # the stdlib's parser fails (IndexError) on some values that pass the checks here
        error_class = "invalid_address" if name in ("From", "To", "Cc", "Reply-To") else "invalid_options"
        raise InvalidEmail(error_class, f"{name}: the value cannot be written as a header: {value[:200]!r}") from None


def _check_sizes(message: dict, options: EmailOptions, config: Composition) -> None:
    """InvalidEmail("header_too_long") for a header value over its cap, or headers over theirs in
    total; only string values are measured (the subject or address of another type is refused later)."""
    # (unsubscribe_url has its own one-line rule in the options model, and is never encoded.)
    values = [("subject", message.get("subject"), MAX_SUBJECT_OCTETS), ("address", message.get("address"), None),
              ("from", options.sender or config.default_from, None), ("reply_to", options.reply_to, None)]
    for field, items in (("cc", options.cc), ("bcc", options.bcc)):
        values += [(field, item, None) for item in items or ()]
    total = 0
    for field, value, limit in values:
        total += _octets_within(field, value, limit or MAX_VALUE_OCTETS) + 2  # ", " or CRLF
        if total > MAX_HEADERS_OCTETS:
            raise InvalidEmail("header_too_long", f"the headers exceed {MAX_HEADERS_OCTETS} octets together "
                                                  f"(at {field}); check the subject and the recipient lists")
    for item in options.attachments or ():
        _octets_within("attachment filename", item.filename, MAX_VALUE_OCTETS)
        _octets_within("attachment content_type", item.content_type, MAX_VALUE_OCTETS)


def _octets_within(field: str, value, limit: int) -> int:
    """The UTF-8 size of a string value (0 for anything else), or InvalidEmail if it is over `limit`."""
    if not isinstance(value, str):
        return 0
    # A character is at least one octet: a value longer than the limit in characters is not encoded at all.
    size = limit + 1 if len(value) > limit else len(value.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InvalidEmail("header_too_long", f"{field}: {len(value)} characters, over the limit of {limit} octets")
    return size


def _text(value, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEmail("invalid_options", f"{field} must be a string")
    if not FORBIDDEN.isdisjoint(value):
        raise InvalidEmail("header_injection", f"{field} contains a line break or NUL")
    return value


def _mailbox(value: str, field: str) -> str:
    """The bare address of one mailbox ("Ada <ada@example.com>" -> "ada@example.com"); a value
    that parses as none or several addresses is refused rather than guessed at."""
    if BARE_ADDRESS.fullmatch(value):  # already bare: getaddresses would give it back unchanged
        return value
    address = _one_address(value)
    if address is None:
        raise InvalidEmail("invalid_address", f"{field}: not one email address: {value[:200]!r}")
    return address


@lru_cache(maxsize=1024)  # a From with a display name is the same on every message
def _one_address(value: str) -> str | None:
    parsed = getaddresses([value])
    return parsed[0][1] if len(parsed) == 1 and BARE_ADDRESS.fullmatch(parsed[0][1]) else None


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())


def _body(text: str | None, html: str | None) -> bytes:
    if text is None and html is None:
        raise InvalidEmail("no_content", "the message has neither text nor html")
    if text is None:
        return _text_part(html, "html")
    if html is None:
        return _text_part(text, "plain")
    return _multipart("alternative", [_text_part(text, "plain"), _text_part(html, "html")])


def _text_part(text: str, subtype: str) -> bytes:
    """A text entity: the text as it is when that is 7-bit safe with lines within the limit, else
    quoted-printable, or base64 where that is shorter (text mostly outside Latin script)."""
    lines = text.encode().splitlines()
    data = b"\n".join(lines) + b"\n"
    if max(map(len, lines), default=0) <= MAX_LINE and not NOT_7BIT_SAFE.search(data):
        encoding, body = "7bit", data
    else:
        # base64 carries text in canonical form, CRLF line breaks (RFC 2046 4.1.1), as the stdlib did.
        qp, b64 = binascii.b2a_qp(data), base64.encodebytes(data.replace(b"\n", b"\r\n"))
        encoding, body = ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode() + body.replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    # No part contains a line starting with "--=_" (see NOT_7BIT_SAFE), so a fixed boundary is safe
    # and a retry sends the same bytes; the two subtypes' boundaries differ, neither a prefix of the other.
    boundary = f"=_tidings_{subtype}"
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
            + b"".join(delimiter + part for part in parts) + f"\r\n--{boundary}--\r\n".encode())


def _attachments(attachments: tuple[EmailAttachment, ...] | list[EmailAttachment], limit: int,
                 utf8: bool) -> list[bytes]:
    """The MIME parts of the attachments (checked by the options model), within the size limit."""
    parts, total = [], 0
    for item in attachments:
        filename = item.filename or "attachment"
        content_type = item.content_type or "application/octet-stream"
        data = item.content
        total += len(data)
        if total > limit:
            raise InvalidEmail("attachment_too_large", f"attachments exceed {limit} bytes")
        # A name that is not ASCII is RFC 2231-encoded, as the stdlib does.
        name = (f'filename="{quote(filename)}"' if filename.isascii()
                else f"filename*={encode_rfc2231(filename, 'utf-8')}")
        head = (_header("Content-Type", content_type, utf8) + "Content-Transfer-Encoding: base64\r\n"
                + _header("Content-Disposition", f"attachment; {name}", utf8) + "\r\n")
        parts.append(head.encode() + base64.encodebytes(data).replace(b"\n", b"\r\n"))
    return parts
