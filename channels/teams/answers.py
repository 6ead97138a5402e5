"""What a Teams answer means, as an Outcome. Workflows (Power Automate) answer 202 when the flow
took the message, and Azure Logic Apps errors otherwise (400 TriggerInputSchemaMismatch, 401/403
for a missing or wrong `sig`, 404 WorkflowNotFound/TriggerNotFound, 429 with Retry-After). The
retiring incoming webhooks answer 200 with the body `1`, or 200 with "Webhook message delivery
failed with error: Microsoft Teams endpoint returned HTTP error 429 ..." when Teams refused it
behind the connector, and 400 "Bad payload", 413 for a card over Teams' size limit, 429 when
throttled. A URL that no longer exists (404/410) is permanent."""
from __future__ import annotations

import json
import re

from consumer.outcomes import Delivered, Outcome, Permanent, Transient

# Teams asks for a pause of seconds to minutes; without a Retry-After, wait this long.
THROTTLED_WAIT_S = 30.0
_EMBEDDED_STATUS = re.compile(r"HTTP error (\d{3})")


def outcome_for(status: int, body: str, retry_after_s: float | None, excerpt) -> Outcome:
    text = body.strip()
    if 200 <= status < 300:
        if "delivery failed" not in text.lower():
            return Delivered(status_code=status)
        # A 200 saying Teams refused it behind the connector: the status Teams gave counts.
        embedded = _EMBEDDED_STATUS.search(text)
        behind = int(embedded[1]) if embedded else 502
        return outcome_for(behind if behind >= 300 else 502, text, retry_after_s, excerpt)
    code = _error_code(text)
    detail = excerpt(text)
    if status == 429:
        return Transient("teams_throttled", detail, 429, retry_after_s or THROTTLED_WAIT_S)
    if status == 413:
        return Permanent("teams_payload_too_large", detail or "the card is over Teams' size limit", 413)
    if status in (401, 403):
        return Permanent("teams_unauthorized", detail or f"the URL's signature was refused ({code})", status)
    if status in (404, 410):
        return Permanent("teams_webhook_gone", detail or "the workflow or webhook no longer exists", status)
    if status == 400:
        return Permanent("teams_bad_payload", detail, 400)
    if status in (408, 412) or status >= 500:
        return Transient(f"teams_http_{status}", detail, status, retry_after_s)
    return Permanent(f"teams_http_{status}", detail, status)


def _error_code(text: str) -> str:
    """The Logic Apps error code of a JSON error answer ({"error": {"code": ...}}), else ''."""
    try:
        document = json.loads(text)
    except ValueError:
        return ""
    error = document.get("error") if isinstance(document, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""
