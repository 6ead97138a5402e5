"""The email channel's declaration for the registry (consumer/channel_specs.py): SMTP through a
pool of connections, a subject, a text and an HTML part."""
from __future__ import annotations

import re

from channels.email.options import EmailOptions
from channels.email.settings import EmailSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


def check_address(address: str) -> str:
    """The address with its domain lower-cased (domains are case-insensitive, RFC 5321 2.4; the
    local part is the mailbox's own business), so one mailbox has one spelling in the directory
    and on the suppression list."""
    if not _ADDRESS.match(address):
        raise AddressInvalid(f"{address!r} is not an address like name@example.com")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


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
    failures=(
        Failure("invalid_address", "permanent", "an address that cannot be written or sent safely"),
        Failure("invalid_options", "permanent", "the options do not fit the model"),
        Failure("header_injection", "permanent", "a header value holds a line break or NUL"),
        Failure("header_too_long", "permanent", "a header, or all of them, over the limit"),
        Failure("missing_from", "permanent", "no options.from and no TIDINGS_SMTP_FROM"),
        Failure("no_content", "permanent", "neither text nor html"),
        Failure("attachment_too_large", "permanent", "attachments over the limit"),
        Failure("tls_unavailable", "permanent", "STARTTLS is required but not offered"),
        Failure("tls_verify_failed", "permanent", "the server's certificate did not verify"),
        Failure("auth_unavailable", "permanent", "the server offers no AUTH though credentials are set"),
        Failure("smtp_not_supported", "permanent", "the server lacks a needed extension"),
        Failure("smtp_<code>", "permanent", "a 5xx SMTP reply"),
        Failure("smtp_<code>", "transient", "a 4xx SMTP reply"),
        Failure("smtp_timeout", "transient", "the server did not answer in time"),
        Failure("smtp_connect", "transient", "no connection to the server"),
        Failure("smtp_disconnected", "transient", "the connection dropped"),
        Failure("smtp_error", "transient", "another SMTP or network error"),
        Failure("tls_error", "transient", "the TLS handshake failed"),
        Failure("<exception>", "transient", "any other error, by its name"),
    ),
    receipts=True,  # bounces and complaints come later (SES notifications, bounce reports)
    # docker-compose.yml: Mailpit, the stack's local SMTP server (web UI on :8025), in plain text on
    # the compose network only; a real relay wants starttls.
    compose_environment={"TIDINGS_SMTP_HOST": "mailpit", "TIDINGS_SMTP_PORT": "1025", "TIDINGS_SMTP_TLS": "none",
                         "TIDINGS_SMTP_FROM": "Tidings <tidings@example.com>"},
)
