"""An Apprise URL as Tidings handles it before Apprise sends anything: its scheme, what may be shown
of it (the scheme, and a self-hosted service's host; never a token) and the parts of it to redact.
Imports nothing of Apprise: the spec's address check runs in every process."""
from __future__ import annotations

import re
from urllib.parse import unquote

MAX_URL_LENGTH = 4096
# Apprise's schemes are short lower-case words (tgram, pover, ntfys); nothing in a URL may be a space
# or a control character.
_URL = re.compile(r"([a-z][a-z0-9+.-]{0,31})://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_SEPARATORS = re.compile(r"[/?&=@#,;+]+")
# Shorter parts are not worth hiding and would blank out ordinary words (as in AnswerExcerpt).
MIN_SECRET_LENGTH = 4


def scheme_of(address: object) -> str | None:
    """The lower-cased scheme of something shaped like an Apprise URL, else None."""
    if not isinstance(address, str) or len(address) > MAX_URL_LENGTH:
        return None
    match = _URL.fullmatch(address)
    return match[1].lower() if match else None


def shown(scheme: str, host: str | None = None) -> str:
    """What an outcome or a log line may say of a URL: `scheme://`, plus the host of a self-hosted
    service (for the others Apprise's "host" is often a token: `pover://user@TOKEN`)."""
    return f"{scheme}://{host[:100]}" if host else f"{scheme}://"


def secrets_of(address: str, privacy_url: str | None = None) -> tuple[str, ...]:
    """The parts of `address` that must not reach an outcome or a log, longest first: every user,
    password, path segment and query value, whole, split at colons and URL-decoded; less the parts
    Apprise itself shows in its privacy form of the URL (`privacy_url`, `service.url(privacy=True)`),
    which it masks every credential of."""
    _, _, rest = address.partition("://")
    parts: set[str] = set()
    for part in filter(None, _SEPARATORS.split(rest)):
        for piece in (part, *part.split(":")):
            parts |= {piece, unquote(piece)}
    public = set(_SEPARATORS.split(privacy_url.partition("://")[2])) if privacy_url else set()
    public |= {piece for part in public for piece in part.split(":")}
    return tuple(sorted((p for p in parts - public if len(p) >= MIN_SECRET_LENGTH), key=len, reverse=True))
