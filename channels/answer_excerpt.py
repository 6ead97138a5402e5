"""What a channel keeps of a provider's or receiver's answer as a delivery's error message (read back
by `GET /v1/notifications/{id}`, the DLQ headers, `tidings status` and Postgres): a short excerpt.

Every configured secret is redacted first (a receiver that echoes its request, Authorization header
included, must not hand a credential to whoever can read the delivery), then control characters are
replaced (a NUL would break the sink's COPY; others mislead a terminal), then it is cut short."""
from __future__ import annotations

import base64
import json
import re
from typing import Iterable

from pydantic import SecretStr

from consumer.settings import Settings, known_sections

LIMIT = 200
REDACTED = "[redacted]"
# Shorter values are not worth hiding and would blank out ordinary words.
MIN_SECRET_LENGTH = 4
_WHITESPACE = re.compile(r"\s+")
# C0/C1 controls left after whitespace folding, lone surrogates, and bidi/zero-width formatting.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class AnswerExcerpt:
    """Called with an answer's text (and any secrets only the caller knows), returns the excerpt."""

    def __init__(self, secrets: Iterable[str] = (), limit: int = LIMIT):
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None
        self._count = len(values)
        self.limit = limit

    @classmethod
    def from_settings(cls, settings: Settings, limit: int = LIMIT) -> "AnswerExcerpt":
        return cls(secret_values(settings), limit)

    def __repr__(self) -> str:  # never the secrets themselves
        return f"AnswerExcerpt({self._count} secrets, limit={self.limit})"

    def __call__(self, text: str | bytes | None, *also: str) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = text or ""
        # Redact the whole text before cutting it: a cut could leave half a secret showing.
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        for secret in sorted(also, key=len, reverse=True):
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                text = text.replace(secret, REDACTED)
        text = _CONTROL.sub("\ufffd", _WHITESPACE.sub(" ", text)).strip()
        return text if len(text) <= self.limit else text[:self.limit - 1] + "…"


def secret_values(settings: Settings) -> set[str]:
    """Every secret value configured, in the forms an answer could echo: the SecretStr fields of
    the runtime's settings and of every section this process knows (each channel's; the gateway's
    when it is loaded)."""
    values: set[str] = set()
    for model in known_sections():
        section = settings if isinstance(settings, model) else settings.section(model)
        for name in model.model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr):
                values |= _forms(name, value.get_secret_value())
    return values


def _forms(name: str, raw: str) -> set[str]:
    """A secret as configured, and the parts of it an answer could echo (JSON taken apart)."""
    if not raw.strip():
        return set()
    values = {raw.strip()}
    document = _json(raw)
    if name == "webhook_credentials" and isinstance(document, dict):
        values |= _credential_values(document)
    elif name == "webhook_endpoint_secrets" and isinstance(document, dict):
        for secrets in document.values():
            values |= _secret_list(secrets if isinstance(secrets, str) else ",".join(map(str, secrets or [])))
    elif name == "sms_http_headers" and isinstance(document, dict):
        for value in map(str, document.values()):
            values |= {value, value.split()[-1] if value.split() else value}
    elif name == "inapp_tenant_keys" and isinstance(document, dict):  # tenant -> feed-token key
        values |= {value for value in map(str, document.values()) if len(value) >= MIN_SECRET_LENGTH}
    elif name == "gateway_static_tokens" and isinstance(document, dict):
        values |= set(map(str, document))  # the tokens are the keys
    elif isinstance(document, dict) and isinstance(document.get("private_key"), str):  # a service account
        values |= _pem_lines(document["private_key"]) | {str(document.get("private_key_id") or "")} - {""}
    elif "PRIVATE KEY" in raw:
        values |= _pem_lines(raw)
    elif document is None:
        values |= _secret_list(raw)
    return values


def _pem_lines(pem: str) -> set[str]:
    """A PEM key whole and each line of its body: an echo may quote it cut or re-wrapped."""
    body = {line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----")}
    return {pem.strip()} | {line for line in body if len(line) >= 16}


def _json(raw: str):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _secret_list(raw: str) -> set[str]:
    """"whsec_a, whsec_b": each item, and its key without the prefix (the base64 a receiver holds)."""
    items = {item.strip() for item in raw.split(",") if item.strip()}
    return items | {item.removeprefix("whsec_") for item in items}


def _credential_values(document: dict) -> set[str]:
    values: set[str] = set()
    for credential in document.values():
        if not isinstance(credential, dict):
            continue
        for key in ("token", "password"):
            if isinstance(credential.get(key), str):
                values.add(credential[key])
        if isinstance(credential.get("password"), str):
            pair = f"{credential.get('username', '')}:{credential['password']}".encode()
            values.add(base64.b64encode(pair).decode())  # as it travels in a Basic header
    return values
