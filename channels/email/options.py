"""The email channel's options (`content.email.options`): sender, copies, reply-to, a one-click
unsubscribe URL and attachments. Validated at the entrances and read by channels/email/message.py.

Every value here becomes a header (or a MIME part's header): a line break or NUL in one is
`header_injection`. Sizes are checked when the message is composed, with the subject and the
configured sender (channels/email/message.py), before anything is encoded."""
from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from consumer.channel_options import ChannelOptions
from consumer.contracts import refusal

# CR, LF and NUL, and what else str.splitlines breaks at (which the stdlib refuses in a header).
FORBIDDEN = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"  # RFC 2045
CONTENT_TYPE = re.compile(f"{TOKEN}/{TOKEN}")
MAX_LINE = 998  # RFC 5322 2.1.1: a line MUST stay within 998 characters
_UNSUBSCRIBE_LINE = len("List-Unsubscribe: <>")


def _one_line(value: str) -> str:
    if not FORBIDDEN.isdisjoint(value):
        raise refusal("header_injection", "contains a line break or NUL")
    return value


HeaderText = Annotated[str, AfterValidator(_one_line)]


def _listed(value: Any) -> Any:
    """One address or a list of them."""
    if isinstance(value, str):
        return [value]
    if value is not None and not isinstance(value, list):
        raise refusal("invalid_options", "expected an address or a list of addresses")
    return value


Addresses = Annotated[list[HeaderText], BeforeValidator(_listed, json_schema_input_type=str | list[str])]


def _content_type(value: str) -> str:
    if not CONTENT_TYPE.fullmatch(value) or value.partition("/")[0].lower() in ("multipart", "message"):
        raise refusal("invalid_options", f"{value[:100]!r} is not a type/subtype (multipart/* and message/* "
                                         "are not attachments)")
    return value


def _unsubscribe_url(value: str) -> str:
    # A URL has nowhere to fold and no client reads one from encoded-words: it goes on one line as
    # it is (printable ASCII, within the hard limit), or not at all.
    if not value.startswith("https://") or any(c in value for c in " <>"):
        raise refusal("invalid_options", "must be an https URL")
    if len(value) + _UNSUBSCRIBE_LINE > MAX_LINE or not (value.isascii() and value.isprintable()):
        raise refusal("invalid_options", f"must be printable ASCII, at most {MAX_LINE - _UNSUBSCRIBE_LINE} "
                                         "characters")
    return value


class EmailAttachment(ChannelOptions):
    filename: HeaderText | None = Field(None, description="the file name the recipient sees (default attachment)")
    content_type: Annotated[HeaderText, AfterValidator(_content_type)] | None = Field(
        None, description="type/subtype (default application/octet-stream)")
    content_base64: HeaderText | None = Field(None, description="the content, base64 without line breaks")

    @field_validator("content_base64")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        try:
            base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError):
            raise refusal("invalid_options", "not valid base64") from None
        return value

    @property
    def content(self) -> bytes:
        return base64.b64decode(self.content_base64 or "")


class EmailOptions(ChannelOptions):
    """Every field may be left out."""

    error_classes: ClassVar[frozenset[str]] = frozenset({"header_injection"})

    sender: HeaderText | None = Field(None, alias="from", description=(
        "the From header (Name <address>); default TIDINGS_SMTP_FROM"))
    cc: Addresses | None = Field(None, description="an address or a list of them")
    bcc: Addresses | None = Field(None, description="an address or a list of them; only the envelope carries them")
    reply_to: HeaderText | None = Field(None, description="one address")
    unsubscribe_url: Annotated[HeaderText, AfterValidator(_unsubscribe_url)] | None = Field(
        None, description="an https URL: List-Unsubscribe with one-click POST (RFC 8058)")
    attachments: list[EmailAttachment] | None = Field(None, description="files attached to the message")
