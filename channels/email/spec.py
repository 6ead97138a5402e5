"""The email channel's declaration for the registry (consumer/channel_specs.py): SMTP through a
pool of connections, a subject, a text and an HTML part."""
from __future__ import annotations

import re

from channels.email.options import EmailOptions
from channels.email.settings import EmailSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, TemplatePart

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


def check_address(address: str) -> str:
    if not _ADDRESS.match(address):
        raise AddressInvalid(f"{address!r} is not an address like name@example.com")
    return address


SPEC = ChannelSpec(
    name="email",
    summary="email over SMTP: a pool of connections, STARTTLS or implicit TLS, attachments, one-click unsubscribe",
    address="an email address (name@example.com)",
    check_address=check_address,
    legacy_address_field="email",
    parts=(TemplatePart("subject", "one_line"), TemplatePart("text"), TemplatePart("html", "html")),
    options=EmailOptions,
    settings=EmailSettings,
    provider="channels.email.provider:EmailProvider",
    providers=("smtp",),
    # docker-compose.yml: Mailpit, the stack's local SMTP server (web UI on :8025), in plain text on
    # the compose network only; a real relay wants starttls.
    compose_environment={"TIDINGS_SMTP_HOST": "mailpit", "TIDINGS_SMTP_PORT": "1025", "TIDINGS_SMTP_TLS": "none",
                         "TIDINGS_SMTP_FROM": "Tidings <tidings@example.com>"},
)
