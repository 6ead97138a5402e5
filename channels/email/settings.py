"""The email channel's settings (TIDINGS_SMTP_*), read by its provider through
`settings.section(EmailSettings)`."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class EmailSettings(Section):
    # One pool of SMTP connections per worker (channels/email/smtp_pool.py).
    smtp_host: str = Field("localhost", description="the relay's host name")
    smtp_port: int = Field(587, description="the relay's port (587 for STARTTLS, 465 for implicit TLS)")
    smtp_tls: str = Field("starttls", description=(
        "`starttls` (required, never falls back to plain), `implicit` (port 465) or `none` (local development "
        "only)"))
    smtp_ca_file: str | None = Field(None, description="a PEM file of CAs to trust instead of the system's (a "
                                                       "private relay); unset: the system CAs")
    smtp_username: str | None = Field(None, description="the AUTH user name")
    smtp_password: SecretStr | None = Field(None, description="the AUTH password; never logged or shown")
    smtp_from: str | None = Field(None, description="the default sender (`Name <address>`)")
    smtp_timeout_s: float = Field(30.0, description="timeout of each SMTP command")
    smtp_connections: int = Field(10, description="connections per worker")
    smtp_max_messages_per_connection: int = Field(100, description="then the connection is closed with QUIT and "
                                                                   "replaced")
    smtp_max_attachment_bytes: int = Field(10 * 1024 * 1024, description="total attachment size per message")
    smtp_message_id_domain: str = Field("tidings", description="the right-hand side of Message-IDs")
    smtp_bounce_address: str | None = Field(None, description=(
        "a mailbox for bounces, e.g. `bounces@example.com`: every message's envelope sender (MAIL FROM, the "
        "Return-Path) becomes `bounces+<delivery id>@example.com` (VERP), so a bounce names its delivery (see "
        "[Receipt sources](receipt-sources.md#bounces-by-email-rfc-3464)); the server must deliver "
        "`bounces+anything` to that mailbox; unset: the From address"))
