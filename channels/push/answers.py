"""What FCM's and APNs' answers mean, as Outcomes, from their documented errors.

FCM HTTP v1 answers a google.rpc.Status (`{"error": {"code", "status", "message", "details"}}`)
whose FcmError detail names the cause: UNREGISTERED (404) and an INVALID_ARGUMENT (400) about
`message.token` mean the token is dead; QUOTA_EXCEEDED (429), UNAVAILABLE (503) and INTERNAL
(500) are worth retrying; SENDER_ID_MISMATCH (403) and THIRD_PARTY_AUTH_ERROR (401) are not.
APNs answers a status and `{"reason": ...}`: 410 Unregistered/ExpiredToken and 400 BadDeviceToken
mean the token is dead; 429, 500, 503 and IdleTimeout are worth retrying; the rest are not."""
from __future__ import annotations

import json
import re

from consumer.outcomes import Delivered, Outcome, Permanent, Suppressed, Transient

DEVICE_UNREGISTERED = "device_unregistered"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# FCM asks for at least a minute's wait after QUOTA_EXCEEDED when it gives no Retry-After.
FCM_QUOTA_WAIT_S = 60.0
APNS_DEAD_TOKEN = frozenset({"Unregistered", "ExpiredToken", "BadDeviceToken"})
APNS_PROVIDER_TOKEN_REFUSED = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})
# IdleTimeout: APNs closed an idle connection, nothing wrong with the message.
APNS_TRANSIENT = frozenset({"IdleTimeout", "TooManyRequests", "TooManyProviderTokenUpdates",
                            "InternalServerError", "ServiceUnavailable", "Shutdown"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def fcm_outcome(status: int, body: str, retry_after_s: float | None, excerpt) -> Outcome:
    document = _json(body)
    if 200 <= status < 300:
        return Delivered(status_code=status, provider_message_id=str(document.get("name") or "") or None,
                         provider="fcm")
    error = document.get("error") if isinstance(document.get("error"), dict) else {}
    code = _fcm_error_code(error) or str(error.get("status") or f"http_{status}")
    detail = excerpt(str(error.get("message") or body))
    if code == "UNREGISTERED" or (code == "INVALID_ARGUMENT" and _about_the_token(error)):
        return Suppressed(DEVICE_UNREGISTERED, detail, status, provider="fcm")
    error_class = f"fcm_{code.lower()}"
    if status == 429 or code == "QUOTA_EXCEEDED":
        return Transient(error_class, detail, status, retry_after_s or FCM_QUOTA_WAIT_S, provider="fcm")
    if status >= 500 or status == 408:
        return Transient(error_class, detail, status, retry_after_s, provider="fcm")
    return Permanent(error_class, detail, status, provider="fcm")


def _fcm_error_code(error: dict) -> str:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE and detail.get("errorCode"):
            return str(detail["errorCode"])
    return ""


def _about_the_token(error: dict) -> bool:
    """An INVALID_ARGUMENT whose field violation is the registration token (not the payload)."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == BAD_REQUEST_TYPE:
            if any(isinstance(v, dict) and v.get("field") == "message.token" for v in detail.get("fieldViolations") or ()):
                return True
    return "registration token" in str(error.get("message", "")).lower()


def apns_reason(body: str) -> str:
    return str(_json(body).get("reason") or "")


def apns_outcome(status: int, apns_id: str | None, body: str, retry_after_s: float | None, excerpt) -> Outcome:
    if status == 200:
        return Delivered(status_code=200, provider_message_id=apns_id, provider="apns")
    reason = apns_reason(body) or f"http_{status}"
    detail = excerpt(f"{status} {reason}")
    if reason in APNS_DEAD_TOKEN or status == 410:
        return Suppressed(DEVICE_UNREGISTERED, detail, status, provider="apns")
    error_class = "apns_" + _CAMEL.sub("_", reason).lower()
    if reason in APNS_TRANSIENT or status in (429, 500, 503):
        return Transient(error_class, detail, status, retry_after_s, provider="apns")
    return Permanent(error_class, detail, status, provider="apns")


def _json(text: str) -> dict:
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
