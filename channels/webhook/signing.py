"""Standard Webhooks signing for the webhook provider: the webhook-id, webhook-timestamp and
webhook-signature headers a receiver verifies, with a secret of that endpoint's own.

Spec: https://www.standardwebhooks.com/ (signed content "{id}.{timestamp}.{body}", HMAC-SHA256,
"v1,<base64>" per secret, space-separated so receivers accept any key during rotation).

One secret shared by every receiver would let receiver A, which sees its own signed requests, get
a valid signature over a body of its choosing (events are published by anyone allowed to publish)
that verifies at receiver B. So each endpoint has its own keys: listed for it in
webhook_endpoint_secrets (by exact URL, or by origin scheme://host[:port] for all its paths), or
else derived from each master secret in webhook_signing_secrets and the endpoint's URL,
HMAC-SHA256(master, URL). `tidings endpoints secret URL` prints an endpoint's secrets for its
receiver; rotating a master secret (new first, old kept until receivers switch) rotates all."""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json

from yarl import URL

from consumer.settings import SettingsError

SECRET_PREFIX = "whsec_"
# Domain separation: a derived key is never the HMAC of anything else Tidings computes.
DERIVATION_LABEL = b"tidings webhook endpoint signing key\x00"


class WebhookSigner:
    """Signs with every key of the endpoint; keys are never logged (no repr of their bytes)."""

    def __init__(self, masters: list[bytes], endpoints: dict[str, list[bytes]] | None = None):
        self._masters = masters
        self._endpoints = endpoints or {}
        self._derived = functools.lru_cache(maxsize=4096)(self._derive)

    @classmethod
    def from_settings(cls, signing_secrets: str | None, endpoint_secrets: str | None = None) -> "WebhookSigner":
        masters = [decode_secret(s, "webhook_signing_secrets") for s in (signing_secrets or "").split(",") if s.strip()]
        return cls(masters, parse_endpoint_secrets(endpoint_secrets))

    def __repr__(self) -> str:
        return f"WebhookSigner({len(self._masters)} master keys, {len(self._endpoints)} endpoints)"

    def keys_for(self, url: URL) -> list[bytes]:
        endpoint = endpoint_url(url)
        listed = self._endpoints.get(endpoint)
        if listed is None:
            listed = self._endpoints.get(origin_of(url))
        return listed if listed is not None else self._derived(endpoint)

    def secrets_for(self, url: URL) -> list[str]:
        """The endpoint's secrets as its receiver configures them (whsec_<base64>), newest first."""
        return [SECRET_PREFIX + base64.b64encode(key).decode() for key in self.keys_for(url)]

    def headers(self, url: URL, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        headers = {"webhook-id": delivery_id, "webhook-timestamp": str(timestamp)}
        if keys := self.keys_for(url):
            headers["webhook-signature"] = " ".join(sign(key, delivery_id, timestamp, body) for key in keys)
        return headers

    def _derive(self, endpoint: str) -> list[bytes]:
        message = DERIVATION_LABEL + endpoint.encode()
        return [hmac.new(master, message, hashlib.sha256).digest() for master in self._masters]


def endpoint_url(url: URL) -> str:
    """The URL as an endpoint key: scheme and host in lower case, default port left out, the path
    and query as sent (a fragment never reaches the receiver)."""
    path = url.raw_path or "/"
    query = f"?{url.raw_query_string}" if url.raw_query_string else ""
    return f"{origin_of(url)}{path}{query}"


def origin_of(url: URL) -> str:
    host = (url.raw_host or "").lower().rstrip(".")
    host = f"[{host}]" if ":" in host else host
    port = f":{url.explicit_port}" if url.explicit_port not in (None, _DEFAULT_PORTS.get(url.scheme)) else ""
    return f"{url.scheme.lower()}://{host}{port}"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_endpoint_secrets(raw: str | None) -> dict[str, list[bytes]]:
    """webhook_endpoint_secrets: {"https://a.example/hook": ["whsec_new", "whsec_old"], ...}; a key
    without a path names the whole origin. Errors name the endpoint, never a secret."""
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise SettingsError("setting webhook_endpoint_secrets is not a JSON object")
    endpoints: dict[str, list[bytes]] = {}
    for key, secrets in document.items():
        try:
            url = URL(str(key))
        except (ValueError, UnicodeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.raw_host:
            raise SettingsError(f"setting webhook_endpoint_secrets: {str(key)[:100]!r} is not an http(s) URL")
        if isinstance(secrets, str):
            secrets = secrets.split(",")
        if not isinstance(secrets, list) or not secrets or not all(isinstance(s, str) for s in secrets):
            raise SettingsError(f"setting webhook_endpoint_secrets: {str(key)[:100]!r} needs a list of whsec_ secrets")
        whole_origin = url.raw_path in ("", "/") and not url.raw_query_string
        endpoints[origin_of(url) if whole_origin else endpoint_url(url)] = [
            decode_secret(s, "webhook_endpoint_secrets") for s in secrets if s.strip()]
    return endpoints


def decode_secret(secret: str, setting: str = "webhook_signing_secrets") -> bytes:
    secret = secret.strip()
    encoded = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # The message names the setting, never the secret.
        raise SettingsError(f"setting {setting}: a secret is not whsec_<base64>") from None
    if not key:
        raise SettingsError(f"setting {setting}: a secret is empty")
    return key


def sign(key: bytes, delivery_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
