"""Standard Webhooks signing for the webhook provider: the webhook-id, webhook-timestamp and
webhook-signature headers a receiver verifies, from secrets in configuration only.

Spec: https://www.standardwebhooks.com/ (signed content "{id}.{timestamp}.{body}", HMAC-SHA256,
"v1,<base64>" per secret, space-separated so receivers accept any key during rotation)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from consumer.settings import SettingsError

SECRET_PREFIX = "whsec_"


class WebhookSigner:
    """Signs with every configured key; keys are never logged (no repr of their bytes)."""

    def __init__(self, keys: list[bytes]):
        self._keys = keys

    @classmethod
    def from_setting(cls, secrets: str | None) -> "WebhookSigner":
        return cls([decode_secret(s) for s in (secrets or "").split(",") if s.strip()])

    def __repr__(self) -> str:
        return f"WebhookSigner({len(self._keys)} keys)"

    def headers(self, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        headers = {"webhook-id": delivery_id, "webhook-timestamp": str(timestamp)}
        if self._keys:
            headers["webhook-signature"] = " ".join(
                sign(key, delivery_id, timestamp, body) for key in self._keys)
        return headers


def decode_secret(secret: str) -> bytes:
    secret = secret.strip()
    encoded = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # The message names the setting, never the secret.
        raise SettingsError("setting webhook_signing_secrets: a secret is not whsec_<base64>") from None
    if not key:
        raise SettingsError("setting webhook_signing_secrets: a secret is empty")
    return key


def sign(key: bytes, delivery_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
