"""Email provider: composes each channel message (email_message.py) and sends it over the
worker's SMTP pool (smtp_pool.py), turning SMTP replies and connection failures into outcomes.

TLS policy: a server that does not offer STARTTLS when it is required, or whose certificate does
not verify, gets nothing and the outcome is Permanent (`tls_unavailable`, `tls_verify_failed`):
that is a configuration problem, retrying will not fix it, and the dead-letter limit stops a flood
of dead letters while it lasts."""
from __future__ import annotations

import asyncio
import json
import re
import ssl

import aiosmtplib

from channels.email.settings import EmailSettings
from channels.email.message import Composition, InvalidEmail, compose
from channels.email.smtp_pool import TLS_MODES, AuthUnavailable, SmtpPool, SmtpServer, TLSUnavailable
from channels.email.verp import bounce_address_flaw
from consumer.outcomes import Delivered, Outcome, Permanent, Transient
from consumer.settings import Settings, SettingsError

# Queue ids in the 250 reply to DATA: Postfix "queued as 4F2B9", Exim "id=1abc-0001-XY",
# Amazon SES / many relays "Ok <id>".
QUEUE_ID = [re.compile(r"queued as ([\w.@<>-]+)", re.I), re.compile(r"\bid=([\w.@<>-]+)"),
            re.compile(r"^(?:\d\.\d\.\d+ )?ok ([\w.-]{8,})$", re.I)]


class EmailProvider:
    name = "smtp"

    def __init__(self, settings: Settings):
        own = settings.section(EmailSettings)
        if own.smtp_tls not in TLS_MODES:
            raise SettingsError(f"setting smtp_tls (TIDINGS_SMTP_TLS): {own.smtp_tls!r} is not one of "
                                f"{', '.join(TLS_MODES)}")
        if own.smtp_bounce_address and (flaw := bounce_address_flaw(own.smtp_bounce_address)):
            raise SettingsError(f"setting smtp_bounce_address (TIDINGS_SMTP_BOUNCE_ADDRESS): {flaw}")
        self.server = SmtpServer(own.smtp_host, own.smtp_port, own.smtp_tls, own.smtp_ca_file,
                                 own.smtp_username, _secret(own.smtp_password), own.smtp_timeout_s)
        self.composition = Composition(own.smtp_from, own.smtp_message_id_domain,
                                       own.smtp_max_attachment_bytes, own.smtp_bounce_address or None)
        self.connections = own.smtp_connections
        self.max_messages = own.smtp_max_messages_per_connection
        self.pool: SmtpPool | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        self.pool = SmtpPool(self.server, self.connections, self.max_messages)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def send(self, message: dict) -> Outcome:
        try:
            envelope = compose(message, self.composition)
        except InvalidEmail as exc:
            return Permanent(exc.error_class, str(exc))
        for last_try in (False, True):
            reused = False
            try:
                async with self.pool.connection() as conn:
                    reused = conn.messages > 1
                    refused, reply = await conn.smtp.sendmail(envelope.sender, envelope.recipients, envelope.content,
                                                              mail_options=envelope.mail_options)
                return _delivered(envelope.recipients, refused, reply, envelope.message_id)
            except aiosmtplib.SMTPServerDisconnected as exc:
                # A pooled session the server dropped while idle: try once on a fresh one.
                if reused and not last_try:
                    continue
                return Transient("smtp_disconnected", str(exc))
            except (aiosmtplib.SMTPException, OSError, ValueError, asyncio.TimeoutError) as exc:
                return classify(exc)
        raise AssertionError("unreachable")


def _delivered(recipients: list[str], refused: dict, reply: str, message_id: str) -> Delivered:
    detail = None
    if refused:
        # Some recipients refused, others accepted: delivered, with per-recipient codes kept.
        codes = {r: (refused[r].code if r in refused else 250) for r in recipients}
        detail = json.dumps({"recipients": codes,
                             "refused": {r: resp.message[:200] for r, resp in refused.items()}})
    return Delivered(status_code=250, provider_message_id=queue_id(reply) or message_id, detail=detail)


def queue_id(reply: str) -> str | None:
    for pattern in QUEUE_ID:
        found = pattern.search(reply.strip())
        if found:
            return found.group(1)
    return None


def classify(exc: BaseException) -> Outcome:
    """Any failure of connecting or sending, as an outcome: 4xx and dropped connections are
    transient, 5xx and configuration problems permanent."""
    if isinstance(exc, TLSUnavailable):
        return Permanent("tls_unavailable", str(exc))
    if isinstance(exc, AuthUnavailable):
        return Permanent("auth_unavailable", str(exc))
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return Permanent("tls_verify_failed", str(_caused_by(exc, ssl.SSLCertVerificationError)))
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        # All refused: retry if any refusal was temporary (the permanent ones fail again, harmlessly).
        temporary = [r.code for r in exc.recipients if r.code < 500]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return by_code(temporary[0] if temporary else exc.recipients[0].code, text)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return by_code(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Permanent("smtp_not_supported", str(exc))
    if isinstance(exc, ValueError):  # aiosmtplib refuses an address it cannot send safely
        return Permanent("invalid_address", str(exc))
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError)):
        return Transient("smtp_timeout", str(exc))
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return Transient("smtp_connect", str(exc))
    if isinstance(exc, ssl.SSLError):
        return Transient("tls_error", str(exc))
    if isinstance(exc, (aiosmtplib.SMTPException, OSError)):
        return Transient("smtp_disconnected" if isinstance(exc, ConnectionError) else "smtp_error", str(exc))
    return Transient(type(exc).__name__, str(exc))


def by_code(code: int, text: str) -> Outcome:
    if 500 <= code < 600:
        return Permanent(f"smtp_{code}", text, code)
    return Transient(f"smtp_{code}", text, code)


def _caused_by(exc: BaseException | None, kind: type) -> BaseException | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
