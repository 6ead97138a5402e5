"""How a delivery attempt ended, as data: Delivered, Transient, Permanent, Suppressed or Deferred.

Providers return one of these and raise nothing for expected failures; the runtime decides what
happens next (sent, a retry tier, the dead-letter topic, suppressed, parked). `provider` names the
provider that answered when a channel fails over between several."""
from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Delivered:
    status_code: int | None = None
    provider_message_id: str | None = None
    cost: Decimal | None = None
    cost_currency: str | None = None
    # Provider-specific result details as JSON (email: per-recipient SMTP codes when some were refused).
    detail: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Transient:
    error_class: str
    message: str = ""
    status_code: int | None = None
    retry_after_s: float | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Permanent:
    error_class: str
    message: str = ""
    status_code: int | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Suppressed:
    """Not to be delivered, by the recipient's own choice (e.g. replied STOP to SMS): recorded
    as `suppressed`, neither retried nor dead-lettered."""

    reason: str
    message: str = ""
    status_code: int | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Deferred:
    """Not attempted: the provider's own pacing asks to try again after `wait_s`. Costs no
    attempt; the runtime parks the message on a retry tier until then, freeing its slot."""

    reason: str
    wait_s: float


Outcome = Delivered | Transient | Permanent | Suppressed | Deferred

TRANSIENT_HTTP = frozenset({408, 425, 429})

# The error class of a Transient made from an exception a provider raised (a defect, not an answer):
# retried through the tiers, then dead-lettered with this reason instead of retries_exhausted.
INTERNAL_ERROR = "internal_error"


def classify_http(status: int, body: str = "", retry_after_s: float | None = None) -> Outcome:
    """2xx delivered; 408/425/429/5xx transient; other statuses permanent."""
    if 200 <= status < 300:
        return Delivered(status_code=status)
    if status in TRANSIENT_HTTP or status >= 500:
        return Transient(f"http_{status}", body, status, retry_after_s)
    return Permanent(f"http_{status}", body, status)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP-date (RFC 9110 10.2.3); None when absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
