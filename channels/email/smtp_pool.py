"""Email channel, step two: a per-worker pool of authenticated SMTP sessions (aiosmtplib), so
messages reuse connections, at most `size` run at once and each carries at most `max_messages`."""
from __future__ import annotations

import asyncio
import ssl
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

import aiosmtplib

TLS_MODES = ("implicit", "starttls", "none")


class TLSUnavailable(aiosmtplib.SMTPException):
    """The server did not offer STARTTLS although it is required: nothing is sent in clear."""


class AuthUnavailable(aiosmtplib.SMTPException):
    """Credentials are configured but the server offers no AUTH on this connection."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: str = "starttls"
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0

    def __repr__(self) -> str:  # never log the password
        return f"SmtpServer({self.host}:{self.port}, tls={self.tls}, user={self.username!r})"

    def tls_context(self) -> ssl.SSLContext:
        # With a CA file, only that CA is trusted (a private relay); otherwise the system store.
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


class PooledConnection:
    def __init__(self, smtp: aiosmtplib.SMTP):
        self.smtp = smtp
        self.messages = 0  # messages this session has carried (or attempted)


async def open_session(server: SmtpServer, tls_context: ssl.SSLContext | None = None) -> aiosmtplib.SMTP:
    """Connect, secure and log in; raises on any failure (the caller classifies it)."""
    if tls_context is None and server.tls != "none":
        tls_context = server.tls_context()
    # start_tls=False: STARTTLS is done below, explicitly, so a server that does not offer it is an
    # error instead of aiosmtplib's silent fallback to plain text.
    smtp = aiosmtplib.SMTP(hostname=server.host, port=server.port, use_tls=server.tls == "implicit",
                           start_tls=False, tls_context=tls_context, timeout=server.timeout_s)
    await smtp.connect()
    try:
        if server.tls == "starttls":
            await smtp.ehlo()
            if not smtp.supports_extension("starttls"):
                raise TLSUnavailable(f"{server.host}:{server.port} does not offer STARTTLS")
            await smtp.starttls()
        if server.username is not None:
            await smtp.ehlo()
            if not smtp.supports_extension("auth"):
                raise AuthUnavailable(f"{server.host}:{server.port} offers no AUTH")
            await smtp.login(server.username, server.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


class SmtpPool:
    def __init__(self, server: SmtpServer, size: int = 10, max_messages: int = 100):
        self.server = server
        self.max_messages = max_messages
        self.sessions_opened = 0
        self._slots = asyncio.Semaphore(size)
        self._idle: list[PooledConnection] = []
        self._closing: set[asyncio.Future] = set()
        self._tls_context = server.tls_context() if server.tls != "none" else None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PooledConnection]:
        """A live session for one message. A session the server closed meanwhile is replaced; one
        that failed mid-transaction (anything but an SMTP reply, which leaves it reset) is closed."""
        async with self._slots:
            conn = self._take_idle()
            if conn is None:
                conn = PooledConnection(await open_session(self.server, self._tls_context))
                self.sessions_opened += 1
            conn.messages += 1
            try:
                yield conn
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused, ValueError):
                self._give_back(conn)  # the server answered; aiosmtplib sent RSET
                raise
            except BaseException:
                conn.smtp.close()
                raise
            self._give_back(conn)

    def _take_idle(self) -> PooledConnection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.smtp.is_connected:
                return conn
            conn.smtp.close()
        return None

    def _give_back(self, conn: PooledConnection) -> None:
        if conn.smtp.is_connected and conn.messages < self.max_messages:
            self._idle.append(conn)
        else:
            self._retire(conn)

    def _retire(self, conn: PooledConnection) -> None:
        # QUIT politely in the background; the slot is free at once.
        if conn.smtp.is_connected:
            task = asyncio.ensure_future(_quit(conn.smtp))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c.smtp) for c in idle), *list(self._closing))


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        async with asyncio.timeout(5):
            await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        pass
    finally:
        smtp.close()
