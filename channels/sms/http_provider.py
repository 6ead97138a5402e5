"""A custom HTTP SMS gateway described by configuration: URL, method, headers, a body template
with JSON-escaped {to}/{text}/{id}, which statuses mean sent, and where the message id is."""
from __future__ import annotations

import asyncio
import json

import aiohttp

from channels.answer_excerpt import AnswerExcerpt
from consumer.outcomes import (
    Delivered,
    Outcome,
    Permanent,
    Transient,
    classify_http,
    retry_after_seconds,
)
from consumer.settings import Settings, SettingsError

MAX_BODY = 64 * 1024


def render_body(template: str, values: dict[str, str]) -> str:
    """Each {name} replaced by its value escaped for use inside a JSON string."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", json.dumps(value, ensure_ascii=False)[1:-1])
    return out


def success_matcher(spec: str):
    """"2xx" or "200,202" (mixable) -> a predicate on the status code."""
    parts = [p.strip().lower() for p in spec.split(",") if p.strip()]
    try:
        exact = {int(p) for p in parts if not p.endswith("xx")}
        classes = {int(p[0]) for p in parts if p.endswith("xx")}
    except ValueError:
        raise SettingsError(f"sms_http_success_status: {spec!r} is not like '2xx' or '200,202'") from None
    return lambda status: status in exact or status // 100 in classes


def dig(document, path: str):
    """The value at a dotted path ("data.messages.0.id") or None."""
    for key in path.split("."):
        if isinstance(document, dict):
            document = document.get(key)
        elif isinstance(document, list) and key.isdigit() and int(key) < len(document):
            document = document[int(key)]
        else:
            return None
    return document


class HttpSms:
    name = "http"

    def __init__(self, settings: Settings):
        if not settings.sms_http_url:
            raise SettingsError("the http SMS provider needs sms_http_url")
        try:
            self.headers = {str(k): str(v) for k, v in json.loads(settings.sms_http_headers or "{}").items()}
        except (ValueError, AttributeError):
            raise SettingsError("sms_http_headers must be a JSON object") from None
        self.settings = settings
        self.is_success = success_matcher(settings.sms_http_success_status)
        self.timeout = aiohttp.ClientTimeout(total=settings.sms_timeout_s)
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.session: aiohttp.ClientSession | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=self.timeout, headers={"User-Agent": "tidings/0.1"})

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, message: dict) -> Outcome:
        s = self.settings
        body = render_body(s.sms_http_body, {"to": message["address"], "text": message["text"],
                                             "id": str(message["delivery_id"])})
        headers = {"Content-Type": "application/json", **self.headers}
        try:
            async with self.session.request(s.sms_http_method.upper(), s.sms_http_url, data=body.encode(),
                                            headers=headers, allow_redirects=False) as response:
                text = (await response.content.read(MAX_BODY)).decode("utf-8", "replace")
                if self.is_success(response.status):
                    return Delivered(status_code=response.status, provider_message_id=self._message_id(text))
                excerpt = self.excerpt(text)
                outcome = classify_http(response.status, excerpt, retry_after_seconds(response.headers.get("Retry-After")))
                # A status outside the success list but still 2xx/3xx: the gateway did not accept it.
                return outcome if not isinstance(outcome, Delivered) else Permanent(
                    f"http_{response.status}", excerpt, response.status)
        except asyncio.TimeoutError:
            return Transient("timeout", f"no response within {s.sms_timeout_s}s")
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, self.excerpt(str(exc)))

    def _message_id(self, text: str) -> str | None:
        field = self.settings.sms_http_message_id_field
        if not field:
            return None
        try:
            value = dig(json.loads(text), field)
        except ValueError:
            return None
        return None if value is None else str(value)
