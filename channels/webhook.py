"""Webhook provider: POSTs the delivery as JSON to the recipient's URL, through one shared
aiohttp session with timeouts, no redirects and a capped response read.

(Signing, methods, auth, SSRF checks come with the full webhook channel.)"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime

import aiohttp

from consumer.outcomes import Outcome, Permanent, Transient, classify_http
from consumer.settings import Settings

MAX_ERROR_BODY = 2048


def payload(message: dict) -> dict:
    """The JSON body a webhook receiver gets."""
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
        "data": json.loads(message["data"] or "{}"),
        "expires_at": _iso(message["expires_at"]),
        "attempt": message["attempt"],
        "replay": message.get("replay", 0),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class WebhookProvider:
    name = "http"

    def __init__(self, settings: Settings):
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s)
        self.concurrency = settings.webhook_concurrency
        self.session: aiohttp.ClientSession | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=60)
        self.session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                             headers={"User-Agent": "tidings/0.1"})

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, message: dict) -> Outcome:
        url = message["address"]
        if not url.startswith(("http://", "https://")):
            return Permanent("invalid_url", f"not an http(s) URL: {url[:200]!r}")
        body = json.dumps(payload(message), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "webhook-id": str(message["delivery_id"])}
        try:
            async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                text = ""
                if not 200 <= response.status < 300:
                    text = (await response.content.read(MAX_ERROR_BODY)).decode("utf-8", "replace")
                return classify_http(response.status, text, _retry_after(response.headers.get("Retry-After")))
        except asyncio.TimeoutError:
            return Transient("timeout", f"no response within {self.timeout.total}s")
        except aiohttp.InvalidURL as exc:
            return Permanent("invalid_url", str(exc))
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, str(exc))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: honoured by the retry issue's scheduler
