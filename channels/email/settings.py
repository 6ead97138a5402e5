"""The email channel's settings (TIDINGS_SMTP_*), read by its provider through
`settings.section(EmailSettings)`."""
from __future__ import annotations

from pydantic import SecretStr

from consumer.settings import Section


class EmailSettings(Section):
    # Email (SMTP): one connection pool per worker; TLS mode implicit | starttls | none.
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_timeout_s: float = 30.0
    smtp_connections: int = 10
    smtp_max_messages_per_connection: int = 100
    smtp_max_attachment_bytes: int = 10 * 1024 * 1024
    smtp_message_id_domain: str = "tidings"
