"""A custom HTTP SMS gateway described by configuration: URL, method, headers, a body template
with JSON-escaped {to}/{text}/{id}, which statuses mean sent, and where the message id is.
Sent through the outbound HTTP kit (channels/outbound_http.py): an internal gateway host must be
listed in sms_allowed_targets."""
from __future__ import annotations

import json

from aiohttp.abc import AbstractResolver

from channels.sms.settings import SmsSettings
from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import TargetPolicy, parse_url
from channels.outbound_http import Answer, OutboundHttp, OverHttp
from consumer.outcomes import Delivered, Outcome, Permanent, classify_http
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


def sms_http(settings: Settings, excerpt: AnswerExcerpt, resolver: AbstractResolver | None = None) -> OutboundHttp:
    """The outbound HTTP kit as the SMS providers that speak HTTP use it: sms_timeout_s, and the
    SSRF guard with sms_allowed_targets (their URLs are the operator's, still guarded)."""
    own = settings.section(SmsSettings)
    return OutboundHttp(TargetPolicy.from_setting(own.sms_allowed_targets, "sms_allowed_targets"),
                        timeout_s=own.sms_timeout_s, max_answer_bytes=MAX_BODY, resolver=resolver,
                        excerpt=excerpt)


class HttpSms(OverHttp):
    name = "http"

    def __init__(self, settings: Settings, *, resolver: AbstractResolver | None = None):
        own = settings.section(SmsSettings)
        if not own.sms_http_url:
            raise SettingsError("the http SMS provider needs sms_http_url")
        self.url = parse_url(own.sms_http_url)
        if isinstance(self.url, Permanent):
            raise SettingsError(f"sms_http_url: {self.url.message}")
        try:
            self.headers = {str(k): str(v) for k, v in json.loads(_secret(own.sms_http_headers) or "{}").items()}
        except (ValueError, AttributeError):
            raise SettingsError("sms_http_headers must be a JSON object") from None
        self.settings = own
        self.is_success = success_matcher(own.sms_http_success_status)
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = sms_http(settings, self.excerpt, resolver)

    async def send(self, message: dict) -> Outcome:
        s = self.settings
        body = render_body(s.sms_http_body, {"to": message["address"], "text": message["text"],
                                             "id": str(message["delivery_id"])})
        headers = {"Content-Type": "application/json", **self.headers}
        answer = await self.http.request(s.sms_http_method.upper(), self.url, data=body.encode(), headers=headers)
        if not isinstance(answer, Answer):
            return answer
        if self.is_success(answer.status):
            return Delivered(status_code=answer.status, provider_message_id=self._message_id(answer.text))
        excerpt = self.excerpt(answer.text)
        outcome = classify_http(answer.status, excerpt, answer.retry_after_s())
        # A status outside the success list but still 2xx: the gateway did not accept it.
        return outcome if not isinstance(outcome, Delivered) else Permanent(
            f"http_{answer.status}", excerpt, answer.status)

    def _message_id(self, text: str) -> str | None:
        field = self.settings.sms_http_message_id_field
        if not field:
            return None
        try:
            value = dig(json.loads(text), field)
        except ValueError:
            return None
        return None if value is None else str(value)


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
