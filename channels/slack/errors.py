"""Slack's answers -> Outcome: the error codes of incoming webhooks and of chat.postMessage, as one
table, used by channels/slack/provider.py to turn every Slack response into Delivered, Transient or Permanent."""
from __future__ import annotations

import re

from consumer.outcomes import Outcome, Permanent, Transient

PERMANENT, TRANSIENT = "permanent", "transient"
# What a Slack error code looks like; anything else in its place is not trusted as one.
ERROR_CODE = re.compile(r"[a-z0-9_]{2,100}")

# Error code -> what it means for a retry. Codes from Slack's docs for incoming webhooks (plain-text
# 4xx bodies) and chat.postMessage ({"ok": false, "error": ...}); a code both use means the same.
ERRORS: dict[str, str] = {
    # Incoming webhooks: the URL, its channel or the payload is wrong; a retry cannot fix it.
    "invalid_payload": PERMANENT,
    "user_not_found": PERMANENT,
    "channel_is_archived": PERMANENT,
    "action_prohibited": PERMANENT,
    "posting_to_general_channel_denied": PERMANENT,
    "no_service": PERMANENT,
    "no_service_id": PERMANENT,
    "no_team": PERMANENT,
    "team_disabled": PERMANENT,
    "invalid_token": PERMANENT,
    # Web API: credentials, target or message rejected.
    "invalid_auth": PERMANENT,
    "not_authed": PERMANENT,
    "account_inactive": PERMANENT,
    "token_revoked": PERMANENT,
    "token_expired": PERMANENT,
    "missing_scope": PERMANENT,
    "channel_not_found": PERMANENT,
    "not_in_channel": PERMANENT,
    "is_archived": PERMANENT,
    "msg_too_long": PERMANENT,
    "no_text": PERMANENT,
    "invalid_blocks": PERMANENT,
    "invalid_blocks_format": PERMANENT,
    "invalid_attachments": PERMANENT,
    "too_many_attachments": PERMANENT,
    "invalid_arguments": PERMANENT,
    "restricted_action": PERMANENT,
    # Slack-side trouble or throttling: the same request may well succeed later.
    "ratelimited": TRANSIENT,
    "rate_limited": TRANSIENT,
    "service_unavailable": TRANSIENT,
    "internal_error": TRANSIENT,
    "fatal_error": TRANSIENT,
    "request_timeout": TRANSIENT,
}


def outcome_for(error: str, status: int | None, retry_after_s: float | None = None) -> Outcome:
    """One Slack error code (any HTTP status) -> Transient or Permanent, error class `slack_<code>`.

    Unknown codes are permanent under 5xx-free answers (Slack rejected this request on purpose)
    and transient with a 5xx status."""
    code = (error or "").strip()
    code = code if ERROR_CODE.fullmatch(code) else "unknown_error"  # it becomes an error class
    kind = ERRORS.get(code)
    if kind is None:
        kind = TRANSIENT if status is not None and status >= 500 else PERMANENT
    if kind == TRANSIENT:
        return Transient(f"slack_{code}", code, status, retry_after_s)
    return Permanent(f"slack_{code}", code, status)


def rate_limited(status: int, retry_after_s: float | None) -> Transient:
    """HTTP 429: Slack tells how long to wait in Retry-After; the retry tiers honour it."""
    return Transient("slack_ratelimited", f"rate limited, retry after {retry_after_s}s", status, retry_after_s)


def http_failure(status: int, body: str) -> Outcome:
    """A non-2xx answer without a Slack error code: 5xx (and 408) transient, other 4xx permanent.
    `body` is already an excerpt (channels/answer_excerpt.py)."""
    if status >= 500 or status == 408:
        return Transient(f"http_{status}", body[:500], status)
    return Permanent(f"http_{status}", body[:500], status)
