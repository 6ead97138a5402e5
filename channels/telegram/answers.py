"""What a Bot API answer means, as an Outcome. Telegram answers `{"ok": true, "result": {...}}`, or
`{"ok": false, "error_code": N, "description": "...", "parameters": {...}}` with the HTTP status
equal to error_code: 429 with parameters.retry_after; 403 when the user blocked the bot, deleted
their account or removed it from the group (the recipient's own choice: an opt-out); 400 for a
chat that does not exist, markup it cannot parse, or a group that became a supergroup
(parameters.migrate_to_chat_id); 401 for a token it does not know; 5xx when it is unwell."""
from __future__ import annotations

import json

from consumer.outcomes import Delivered, Outcome, Permanent, Suppressed, Transient

PROVIDER = "telegram"
# Telegram always names its wait; should a 429 come without one, wait this long.
THROTTLED_WAIT_S = 5.0
# 403 descriptions that mean the recipient left: no further message can reach them until they return.
RECIPIENT_LEFT = ("bot was blocked by the user", "user is deactivated", "bot was kicked from the group chat",
                  "bot was kicked from the supergroup chat", "bot was kicked from the channel chat")


def outcome_for(status: int, body: str, retry_after_s: float | None, excerpt) -> Outcome:
    document = _document(body)
    if document is None:
        return _not_bot_api(status, excerpt(body))
    if document.get("ok") is True and 200 <= status < 300:
        result = document.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return Delivered(status_code=status, provider_message_id=None if message_id is None else str(message_id))
    code = document.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else status
    description = excerpt(str(document.get("description") or ""))
    parameters = document.get("parameters") if isinstance(document.get("parameters"), dict) else {}
    return _error(code, description, parameters, retry_after_s)


def _error(code: int, description: str, parameters: dict, retry_after_s: float | None) -> Outcome:
    lowered = description.lower()
    if code == 429:
        wait = parameters.get("retry_after")
        wait = float(wait) if isinstance(wait, (int, float)) and not isinstance(wait, bool) else retry_after_s
        return Transient("telegram_throttled", description, 429, wait if wait is not None else THROTTLED_WAIT_S)
    if code == 403 and any(reason in lowered for reason in RECIPIENT_LEFT):
        return Suppressed("opted_out", description, 403, provider=PROVIDER)
    if code == 403:
        return Permanent("telegram_forbidden", description, 403)
    if code == 401:
        return Permanent("telegram_unauthorized", f"the bot token was refused ({description or 'Unauthorized'}); "
                                                  "check TIDINGS_TELEGRAM_BOT_TOKEN", 401)
    if code == 400 and isinstance(moved := parameters.get("migrate_to_chat_id"), int):
        return Permanent("telegram_chat_migrated", f"the group is now the supergroup {moved}: send to chat id "
                                                   f"{moved} ({description})", 400)
    if code == 400 and "chat not found" in lowered:
        return Permanent("telegram_chat_not_found", description, 400)
    if code == 400 and "can't parse entities" in lowered:
        return Permanent("telegram_bad_markup", description, 400)
    if code == 400:
        return Permanent("telegram_bad_request", description, 400)
    if code in (408, 425) or code >= 500:
        return Transient(f"telegram_http_{code}", description, code, retry_after_s)
    return Permanent(f"telegram_http_{code}", description, code)


def _not_bot_api(status: int, text: str) -> Outcome:
    """An answer that is not the Bot API's JSON (a proxy's error page): by its status. A 2xx is
    not taken as sent: the message may not have been."""
    if status == 429:
        return Transient("telegram_throttled", text, 429, THROTTLED_WAIT_S)
    if 200 <= status < 300 or status in (408, 425) or status >= 500:
        return Transient(f"telegram_http_{status}", text or "not a Bot API answer", status)
    return Permanent(f"telegram_http_{status}", text, status)


def _document(body: str) -> dict | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("ok"), bool) else None
