"""The webhook channel's options (`content.webhook.options`): method, extra headers, a credential
by name and the body's shape. Validated at the entrances and read by channels/webhook/request.py.

Secrets never come from the event: signing keys and credentials are configuration only (the event
names a credential; the worker sends it only to the hosts configured for it)."""
from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from consumer.channel_options import ChannelOptions
from consumer.contracts import refusal

METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
# Set by the provider only: framing, authentication, signing and idempotency.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "authorization",
    "webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"})
# Keys that would carry a secret inside the event; refused rather than silently ignored.
SECRET_OPTIONS = frozenset({"signing_secret", "secret", "auth", "token", "password"})
# A header name is an RFC 9110 token; a value holds no control character (HTAB and \x0b included).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _method(value: Any) -> str:
    method = str(value).upper()
    if method not in METHODS:
        raise refusal("invalid_method", f"{method[:20]!r} is not one of {', '.join(METHODS)}")
    return method


class WebhookOptions(ChannelOptions):
    """How the webhook request is made; every field may be left out."""

    error_classes: ClassVar[frozenset[str]] = frozenset(
        {"invalid_method", "header_injection", "header_not_allowed", "secret_in_event"})

    method: Annotated[Literal[METHODS], BeforeValidator(_method)] = Field(
        "POST", description="the HTTP method (any case); GET and DELETE carry no body")
    headers: dict[str, Any] | None = Field(None, description=(
        "extra request headers, name -> value (a value that is not a string is sent as JSON); names Tidings "
        "sets itself (Authorization, Host, webhook-*, Idempotency-Key, ...) are refused"))
    credential: str | None = Field(None, description=(
        "a credential's name from TIDINGS_WEBHOOK_CREDENTIALS, sent only to the hosts configured for it"))
    body: Literal["payload", "data"] = Field("payload", description=(
        "payload: the delivery's JSON document (id, channel, recipient_id, text, data, ...); data: the "
        "notification's data only"))

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, value: Any) -> Any:
        if isinstance(value, dict) and (refused := sorted(SECRET_OPTIONS & value.keys())):
            raise refusal("secret_in_event", f"secrets come from configuration only, not options {refused}")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, Any] | None) -> dict[str, str] | None:
        """Each header as it will be sent, or the first one refused: a control character in its name
        or value (header_injection), a name Tidings sets (header_not_allowed), not a token."""
        if headers is None:
            return None
        out = {}
        for name, value in headers.items():
            value = value if isinstance(value, str) else json.dumps(value)
            if _CONTROL.search(name) or _CONTROL.search(value):
                raise refusal("header_injection", f"header {name[:40]!r} has a control character")
            if name.strip().lower() in RESERVED_HEADERS:
                raise refusal("header_not_allowed", f"header {name[:40]!r} is set by Tidings")
            if not _TOKEN.fullmatch(name):
                raise refusal("invalid_options", f"header name {name[:40]!r} is not an HTTP token")
            out[name] = value
        return out
