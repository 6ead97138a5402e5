"""What a Discord answer to Execute Webhook (`?wait=true`) means, as an Outcome. 200 carries the
message it posted (its `id` is the provider message id). Errors are JSON `{"code": N, "message":
...}`: 400 with 50006 (an empty message) or 50035 (Invalid Form Body, with the fields' errors),
401 with 50027 (Invalid Webhook Token), 404 with 10015 (Unknown Webhook: it was deleted), 413 with
40005; 429 `{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}` with
Retry-After; 5xx when Discord is in trouble."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from channels.discord.rate_limits import seconds
from channels.outbound_http import Answer
from consumer.outcomes import Delivered, Outcome, Permanent, Transient

# A 429 without a wait anywhere (Cloudflare's own ban page has none in its body): wait this long.
THROTTLED_WAIT_S = 60.0

# Discord's JSON error codes -> error class; the status decides when the code is not listed.
CODES = {
    10003: "discord_unknown_channel",  # the thread_id names no thread of the webhook's channel
    10015: "discord_webhook_gone",
    40005: "discord_payload_too_large",
    50006: "discord_empty_message",
    50027: "discord_unauthorized",
    50035: "discord_invalid_form_body",
}
STATUSES = {400: "discord_bad_request", 401: "discord_unauthorized", 403: "discord_unauthorized",
            404: "discord_webhook_gone", 413: "discord_payload_too_large"}


@dataclass(frozen=True)
class Throttle:
    retry_after_s: float
    is_global: bool


def throttle_of(answer: Answer) -> Throttle | None:
    """A 429's wait: the body's retry_after (seconds, to the millisecond), else Retry-After."""
    if answer.status != 429:
        return None
    document = _document(answer.text)
    waits = (seconds(document.get("retry_after")), answer.retry_after_s(),
             seconds(answer.headers.get("X-RateLimit-Reset-After")))
    wait = next((w for w in waits if w is not None), THROTTLED_WAIT_S)
    is_global = document.get("global") is True or answer.headers.get("X-RateLimit-Scope") == "global"
    return Throttle(wait, is_global)


def outcome_for(answer: Answer, excerpt: Callable[[str], str]) -> Outcome:
    """`excerpt` cuts and redacts Discord's text for the delivery's error message."""
    document = _document(answer.text)
    if 200 <= answer.status < 300:
        posted = document.get("id")
        return Delivered(status_code=answer.status, provider_message_id=str(posted) if posted else None)
    detail = excerpt(_said(document) or answer.text)
    if (throttle := throttle_of(answer)) is not None:
        return Transient("discord_rate_limited", detail, 429, throttle.retry_after_s)
    if answer.status == 408 or answer.status >= 500:
        return Transient(f"discord_http_{answer.status}", detail, answer.status, answer.retry_after_s())
    code = document.get("code")
    error_class = CODES.get(code) if isinstance(code, int) else None
    return Permanent(error_class or STATUSES.get(answer.status, f"discord_http_{answer.status}"), detail,
                     answer.status)


def _document(text: str) -> dict:
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _said(document: dict) -> str:
    """"Invalid Form Body (50035): {the fields' errors}" from an error document, else ''."""
    if not isinstance(document.get("message"), str):
        return ""
    said = f"{document['message']} ({document.get('code')})"
    if document.get("errors"):
        said += f": {json.dumps(document['errors'], separators=(',', ':'))}"
    return said
