"""Twilio SMS through the official `twilio` library's async client: one Messages.create per
delivery, Twilio's error codes mapped to Delivered / Transient / Permanent.

The library builds the requests and reads the answers; they travel through the outbound HTTP kit
(channels/outbound_http.py: pooled connections, the SSRF guard with sms_allowed_targets, timeouts,
capped reads), plugged in as the library's HTTP client."""
from __future__ import annotations

import base64
import time
from contextvars import ContextVar

from aiohttp.abc import AbstractResolver
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from yarl import URL

from channels.sms.settings import SmsSettings
from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import parse_url
from channels.outbound_http import Answer, OutboundHttp, OverHttp, user_agent
from channels.sms.http_provider import sms_http
from consumer.outcomes import Delivered, Outcome, Permanent, Transient, retry_after_seconds
from consumer.settings import Settings, SettingsError

# Twilio error codes about the recipient: no retry will help (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = {
    21211: "invalid_phone_number",  # invalid 'To' phone number
    21612: "unreachable_number",  # 'To' not reachable via SMS from this 'From'
    21614: "not_mobile_number",  # 'To' is not a valid mobile number
    21610: "opted_out",  # recipient replied STOP; the lead maps this to suppressed
}
TRANSIENT_CODES = {20429: "rate_limited"}  # too many requests


# TwilioRestException carries no headers, so the client keeps the last answer's Retry-After here.
# A ContextVar set inside the awaited request is seen by the same task's send(), and by no other.
_retry_after: ContextVar[str | None] = ContextVar("twilio_retry_after", default=None)


class NotAnswered(Exception):
    """The kit's outcome for a request that got no usable answer (refused, timed out, a 3xx),
    carried out of the twilio library to TwilioSms.send."""

    def __init__(self, outcome: Permanent | Transient):
        super().__init__(outcome.message)
        self.outcome = outcome


class KitHttpClient(AsyncHttpClient):
    """The twilio library's HTTP client interface over an OutboundHttp."""

    def __init__(self, http: OutboundHttp):
        super().__init__(logger=None, is_async=True, timeout=None)
        self.http = http

    async def request(self, method: str, uri: str, params=None, data=None, headers=None, auth=None,
                      timeout=None, allow_redirects=False) -> Response:
        """Timeouts are the kit's (sms_timeout_s) and redirects are never followed, whatever the
        library asks."""
        url = str(URL(uri).update_query({k: v for k, v in params.items() if v is not None})) if params else uri
        headers = dict(headers or {})
        headers["User-Agent"] = f"{user_agent()} {headers.get('User-Agent', '')}".strip()
        if auth is not None:  # the client's (account sid, auth token)
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        answer = await self.http.request(method, url, data=data, headers=headers)
        if not isinstance(answer, Answer):
            raise NotAnswered(answer)
        _retry_after.set(answer.headers.get("Retry-After"))
        return Response(answer.status, answer.text, answer.headers)


class TwilioSms(OverHttp):
    name = "twilio"

    def __init__(self, settings: Settings, *, resolver: AbstractResolver | None = None):
        own = settings.section(SmsSettings)
        if not own.sms_twilio_account_sid or not _secret(own.sms_twilio_auth_token):
            raise SettingsError("the twilio SMS provider needs sms_twilio_account_sid and sms_twilio_auth_token")
        if not own.sms_twilio_from and not own.sms_twilio_messaging_service_sid:
            raise SettingsError("the twilio SMS provider needs sms_twilio_from or sms_twilio_messaging_service_sid")
        self.settings = own
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = sms_http(settings, self.excerpt, resolver)
        self.client = Client(own.sms_twilio_account_sid, _secret(own.sms_twilio_auth_token),
                             http_client=KitHttpClient(self.http))
        if own.sms_twilio_base_url:
            if isinstance(base := parse_url(own.sms_twilio_base_url), Permanent):
                raise SettingsError(f"sms_twilio_base_url: {base.message}")
            # The Api domain builds every URL from base_url (default https://api.twilio.com).
            self.client.api.base_url = own.sms_twilio_base_url.rstrip("/")

    async def send(self, message: dict) -> Outcome:
        s = self.settings
        fields = {"to": message["address"], "body": message["text"]}
        if s.sms_twilio_messaging_service_sid:
            fields["messaging_service_sid"] = s.sms_twilio_messaging_service_sid
        else:
            fields["from_"] = s.sms_twilio_from
        if s.sms_twilio_status_callback:
            fields["status_callback"] = s.sms_twilio_status_callback
        try:
            sent = await self.client.messages.create_async(**fields)
        except TwilioRestException as exc:
            return outcome_for_error(exc, retry_after_seconds(_retry_after.get(), time.time()), self.excerpt)
        except NotAnswered as exc:
            return exc.outcome
        return Delivered(status_code=201, provider_message_id=sent.sid)


def outcome_for_error(exc: TwilioRestException, retry_after_s: float | None = None,
                      excerpt: AnswerExcerpt = AnswerExcerpt()) -> Outcome:
    text = excerpt(f"twilio {exc.code}: {exc.msg}" if exc.code else f"twilio: {exc.msg}")
    if exc.code in PERMANENT_CODES:
        return Permanent(PERMANENT_CODES[exc.code], text, exc.status)
    if exc.code in TRANSIENT_CODES:
        return Transient(TRANSIENT_CODES[exc.code], text, exc.status, retry_after_s)
    if exc.status == 429 or exc.status >= 500:
        return Transient(f"http_{exc.status}", text, exc.status, retry_after_s)
    return Permanent(f"twilio_{exc.code}" if exc.code else f"http_{exc.status}", text, exc.status)


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
