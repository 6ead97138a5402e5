"""Twilio SMS through the official `twilio` library's async client: one Messages.create per
delivery, Twilio's error codes mapped to Delivered / Transient / Permanent."""
from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.answer_excerpt import AnswerExcerpt
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


class RetryAfterKeepingClient(AsyncTwilioHttpClient):
    async def request(self, *args, **kwargs):
        response = await super().request(*args, **kwargs)
        _retry_after.set((response.headers or {}).get("Retry-After"))
        return response


class TwilioSms:
    name = "twilio"

    def __init__(self, settings: Settings):
        if not settings.sms_twilio_account_sid or not settings.sms_twilio_auth_token:
            raise SettingsError("the twilio SMS provider needs sms_twilio_account_sid and sms_twilio_auth_token")
        if not settings.sms_twilio_from and not settings.sms_twilio_messaging_service_sid:
            raise SettingsError("the twilio SMS provider needs sms_twilio_from or sms_twilio_messaging_service_sid")
        self.settings = settings
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http: RetryAfterKeepingClient | None = None
        self.client: Client | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        s = self.settings
        # The aiohttp session inside is created here, within the running loop.
        self.http = RetryAfterKeepingClient(timeout=s.sms_timeout_s)
        self.client = Client(s.sms_twilio_account_sid, s.sms_twilio_auth_token, http_client=self.http)
        if s.sms_twilio_base_url:
            # The Api domain builds every URL from base_url (default https://api.twilio.com).
            self.client.api.base_url = s.sms_twilio_base_url.rstrip("/")

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

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
        except asyncio.TimeoutError:
            return Transient("timeout", f"no answer from Twilio within {s.sms_timeout_s}s")
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, self.excerpt(str(exc)))
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
