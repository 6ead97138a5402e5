"""Builds one webhook HTTP request from a channel message: method, headers, credentials, body and
Standard Webhooks signature, or a Permanent outcome when the message asks for something refused.

Options (content.webhook.options): method, headers (JSON object), credential (a name from the
webhook_credentials setting), body ("data" = the event's data only; default the full payload).
Secrets never come from the event: signing keys and credentials are configuration only, and a
credential goes only to the hosts configured for it (the event chooses the URL)."""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yarl import URL

from channels.outbound import parse_url
from channels.webhook.signing import WebhookSigner
from consumer.outcomes import Permanent
from consumer.settings import SettingsError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
BODYLESS = frozenset({"GET", "DELETE"})
# Set by the provider only: framing, authentication, signing and idempotency.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "authorization",
    "webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"})
# Keys that would carry a secret inside the event; refused rather than silently ignored.
SECRET_OPTIONS = frozenset({"signing_secret", "secret", "auth", "token", "password"})
# Built once: json.dumps with separators builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
# A header name is an RFC 9110 token; a value holds no control character (HTAB and \x0b included).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    url: str
    target: URL
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True)
class Credential:
    authorization: str  # the Authorization header value
    hosts: frozenset[str]  # host names, or "*.example.com" for its subdomains

    def __repr__(self) -> str:
        return f"Credential(hosts={sorted(self.hosts)})"

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(
            pattern.startswith("*.") and host.endswith(pattern[1:]) for pattern in self.hosts)


def payload(message: dict, data: Any = None) -> dict:
    """The JSON body a webhook receiver gets by default."""
    return {
        "id": str(message["delivery_id"]),
        "notification_id": str(message["notification_id"]),
        "channel": message["channel"],
        "priority": message["priority"].lower(),
        "created_at": _iso(message["created_at"]),
        "source": message["source"],
        "tenant": message["tenant"],
        "category": message["category"],
        "recipient_id": message["recipient_id"],
        "subject": message["subject"],
        "text": message["text"],
        "html": message["html"],
        "template": message["template"],
        "data": json.loads(message["data"] or "{}") if data is None else data,
        "expires_at": _iso(message["expires_at"]),
        "attempt": message["attempt"],
        "replay": message.get("replay", 0),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def parse_credentials(raw: str | None) -> dict[str, Credential]:
    """The webhook_credentials setting; errors name the credential, never its secret.

    Each credential needs `hosts`: a setting written before credentials were bound to hosts stops
    the worker at start (rather than keep sending the secret wherever an event points)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise SettingsError("setting webhook_credentials is not a JSON object") from None
    if not isinstance(data, dict):
        raise SettingsError("setting webhook_credentials is not a JSON object")
    for name, credential in data.items():
        kind = credential.get("type") if isinstance(credential, dict) else None
        needed = {"bearer": ("token",), "basic": ("username", "password")}.get(kind)
        if needed is None or not all(isinstance(credential.get(k), str) for k in needed):
            raise SettingsError(f"setting webhook_credentials: credential {name!r} needs type bearer "
                                "(token) or basic (username, password)")
        hosts = credential.get("hosts")
        if not isinstance(hosts, list) or not hosts or not all(
                isinstance(h, str) and re.fullmatch(r"(\*\.)?[A-Za-z0-9._-]+", h.strip()) for h in hosts):
            raise SettingsError(f"setting webhook_credentials: credential {name!r} needs \"hosts\", the list of "
                                "host names it may be sent to (e.g. [\"api.example.com\", \"*.example.net\"])")
    return {name: Credential(_authorization(credential),
                             frozenset(h.strip().lower().rstrip(".") for h in credential["hosts"]))
            for name, credential in data.items()}


def _authorization(credential: dict[str, str]) -> str:
    if credential["type"] == "bearer":
        return f"Bearer {credential['token']}"
    pair = f"{credential['username']}:{credential['password']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def build_request(message: dict, *, signer: WebhookSigner, credentials: dict[str, Credential],
                  max_body_bytes: int, now: float) -> WebhookRequest | Permanent:
    url = message["address"]
    target = parse_url(url)
    if isinstance(target, Permanent):
        return target
    try:
        raw_options = message.get("options")
        # Most messages carry no options; skip the parse for them.
        options: Any = json.loads(raw_options) if raw_options and raw_options != "{}" else {}
    except json.JSONDecodeError:
        return Permanent("invalid_options", "options is not JSON")
    if not isinstance(options, dict):
        return Permanent("invalid_options", "options is not a JSON object")
    if refused := sorted(SECRET_OPTIONS & options.keys()):
        return Permanent("secret_in_event", f"secrets come from configuration only, not options {refused}")

    method = str(options.get("method", "POST")).upper()
    if method not in METHODS:
        return Permanent("invalid_method", f"method {method[:20]!r} is not one of {sorted(METHODS)}")

    extra = options.get("headers") or {}
    if not isinstance(extra, dict):
        return Permanent("invalid_options", "headers is not a JSON object")
    headers: dict[str, str] = {}
    for name, value in extra.items():
        value = value if isinstance(value, str) else json.dumps(value)
        if _CONTROL.search(name) or _CONTROL.search(value):
            return Permanent("header_injection", f"header {name[:40]!r} has a control character")
        if name.strip().lower() in RESERVED_HEADERS:
            return Permanent("header_not_allowed", f"header {name[:40]!r} is set by Tidings")
        if not _TOKEN.fullmatch(name):
            return Permanent("invalid_options", f"header name {name[:40]!r} is not an HTTP token")
        headers[name] = value

    if (name := options.get("credential")) is not None:
        credential = credentials.get(str(name))
        if credential is None:
            return Permanent("unknown_credential", f"no credential {str(name)[:60]!r} in webhook_credentials")
        if not credential.allows(target.raw_host or ""):
            return Permanent("credential_not_allowed", f"credential {str(name)[:60]!r} is not for host "
                             f"{(target.raw_host or '')[:100]!r} (its hosts in webhook_credentials)")
        headers["Authorization"] = credential.authorization

    body: bytes | None = None
    if method not in BODYLESS:
        shape = options.get("body", "payload")
        if shape not in ("payload", "data"):
            return Permanent("invalid_options", f"body {str(shape)[:20]!r} is not payload or data")
        try:
            data = json.loads(message["data"] or "{}")
        except (TypeError, ValueError) as exc:
            return Permanent("invalid_data", f"the event's data is not JSON: {exc}"[:200])
        document = data if shape == "data" else payload(message, data)
        body = _COMPACT.encode(document).encode()
        if len(body) > max_body_bytes:
            return Permanent("body_too_large", f"request body {len(body)} bytes > {max_body_bytes}")
        if not any(h.lower() == "content-type" for h in headers):
            headers["Content-Type"] = "application/json"

    delivery_id = str(message["delivery_id"])
    headers.update(signer.headers(target, delivery_id, int(now), body or b""))
    headers["Idempotency-Key"] = delivery_id
    return WebhookRequest(method, url, target, headers, body)
