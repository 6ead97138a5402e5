"""What Apprise's answer means, as an Outcome. Apprise reports whether the service took the message
(2.x adds SUCCESS / FAILURE / TIMEOUT), never why it refused it nor the service's message id: a
failure is transient `apprise_failed` (the retry tiers, then the dead-letter topic, decide), with
Apprise's own warnings, redacted, as the reason. Many plugins end a refusal's warning with
`error=<HTTP status>`; that status is recorded, but it does not make the failure permanent."""
from __future__ import annotations

import re

from consumer.outcomes import Delivered, Outcome, Transient

_STATUS = re.compile(r"error=(\d{3})\b")


def outcome_for(result, warnings: list[str], where: str, excerpt) -> Outcome:
    if result:
        return Delivered()
    detail = excerpt(f"{where} " + (" ".join(warnings) or "Apprise reported a failure and logged no reason"))
    statuses = [int(found) for found in _STATUS.findall(" ".join(warnings))]
    status_code = statuses[-1] if statuses else None
    if getattr(getattr(result, "status", None), "name", None) == "TIMEOUT":
        return Transient("apprise_timeout", detail, status_code)
    return Transient("apprise_failed", detail, status_code)
