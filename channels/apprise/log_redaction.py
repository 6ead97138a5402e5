"""Apprise logs through the `apprise` logger, and what it logs can hold a URL's token (an exception's
text names the URL it requested, a plugin names the token it refused). While Tidings checks or sends
one URL, every record Apprise logs in that context is redacted with the URL's secrets before any
handler sees it, and its warnings are kept: they are all Tidings learns of why a send failed."""
from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Iterator

from channels.answer_excerpt import REDACTED

LOGGER = "apprise"
_CURRENT: contextvars.ContextVar["UrlLog | None"] = contextvars.ContextVar("tidings_apprise_url_log", default=None)


class UrlLog:
    """What Apprise logged about one URL, redacted; `secrets` may be narrowed once the URL is parsed."""

    def __init__(self, secrets: tuple[str, ...]):
        self.secrets = secrets
        self.warnings: list[str] = []

    def redact(self, text: str) -> str:
        for secret in self.secrets:  # longest first: a secret's prefix must not leave its tail
            text = text.replace(secret, REDACTED)
        return text

    @contextlib.contextmanager
    def active(self) -> Iterator["UrlLog"]:
        """Records Apprise logs in this context (this thread, or one its context was copied to)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)


class _Redaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        log = _CURRENT.get()
        if log is None:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: keep none of its arguments
            text = str(record.msg)
        record.msg, record.args = log.redact(text), ()
        if record.exc_info or record.exc_text:  # a traceback's frames can quote the URL
            record.exc_info, record.exc_text = None, None
        if record.levelno >= logging.WARNING:
            log.warnings.append(record.msg)
        return True


def install() -> None:
    """Redact the `apprise` logger's records in every UrlLog context (once per process). A logger
    filter runs before every handler, Apprise's own result capture included."""
    logger = logging.getLogger(LOGGER)
    if logger.level == logging.NOTSET:
        # Apprise's INFO and DEBUG lines (one per send, payloads and headers included) would flood
        # the worker's log with message bodies; an operator can still lower the level.
        logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _Redaction) for f in logger.filters):
        logger.addFilter(_Redaction())
