"""Builds one webhook HTTP request from a channel message: method, headers, credentials, body and
Standard Webhooks signature, or a Permanent outcome when the message asks for something refused.

Options (content.webhook.options) are read through their model, channels/webhook/options.py.
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

from channels.outbound import HostList, parse_url
from channels.webhook.options import WebhookOptions
from channels.webhook.signing import WebhookSigner
from consumer.channel_options import read_options
from consumer.outcomes import Permanent
from consumer.settings import SettingsError

BODYLESS = frozenset({"GET", "DELETE"})
# Built once: json.dumps with separators builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


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
    hosts: HostList  # host names, or "*.example.com" for its subdomains (never "*")

    def __repr__(self) -> str:
        return f"Credential(hosts=[{self.hosts}])"

    def allows(self, host: str) -> bool:
        return self.hosts.allows(host)


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
                             HostList.parse(",".join(credential["hosts"]), f"webhook_credentials ({name})"))
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
    options = read_options(WebhookOptions, message.get("options"))
    if isinstance(options, Permanent):
        return options
    method = options.method
    headers = dict(options.headers or {})  # checked by the model: no control character, none of ours

    if (name := options.credential) is not None:
        credential = credentials.get(name)
        if credential is None:
            return Permanent("unknown_credential", f"no credential {name[:60]!r} in webhook_credentials")
        if not credential.allows(target.raw_host or ""):
            return Permanent("credential_not_allowed", f"credential {name[:60]!r} is not for host "
                             f"{(target.raw_host or '')[:100]!r} (its hosts in webhook_credentials)")
        headers["Authorization"] = credential.authorization

    body: bytes | None = None
    if method not in BODYLESS:
        shape = options.body
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
