"""Webhook provider: sends each delivery to the recipient's URL as a signed HTTP request, through
the outbound HTTP kit (channels/outbound_http.py), behind a per-endpoint bulkhead and circuit breaker.

The kit gives timeouts (connect and total), no redirects, a capped response read, and URL and SSRF
checks on the URL and on every resolved address (channels/outbound.py); this module adds the
capped request body, signing, 410 Gone, and redacting the endpoint's own secrets from what a
receiver answers (answer_excerpt.py)."""
from __future__ import annotations

import time
from typing import Callable

from aiohttp.abc import AbstractResolver

from channels.webhook.settings import WebhookSettings
from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import TargetPolicy
from channels.outbound_http import Answer, OutboundHttp
from channels.webhook.bulkhead import EndpointBulkhead
from channels.webhook.endpoints import DisabledEndpoints
from channels.webhook.request import (
    WebhookRequest,
    build_request,
    parse_credentials,
    payload,
)
from channels.webhook.signing import WebhookSigner
from consumer.outcomes import (
    Outcome,
    Permanent,
    Suppressed,
    classify_http,
    retry_after_seconds,
)
from consumer.settings import Settings

__all__ = ["WebhookProvider", "payload", "retry_after_seconds"]

# Enough of an answer to explain a failure; never the whole body of a misbehaving receiver.
MAX_RESPONSE_BYTES = 20 * 1024


class WebhookProvider:
    name = "http"

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, resolver: AbstractResolver | None = None):
        own = settings.section(WebhookSettings)
        self.concurrency = own.webhook_concurrency
        self.per_endpoint = own.webhook_per_endpoint_concurrency
        self.max_body_bytes = own.webhook_max_body_bytes
        self.signer = WebhookSigner.from_settings(_secret(own.webhook_signing_secrets),
                                                  _secret(own.webhook_endpoint_secrets))
        self.credentials = parse_credentials(_secret(own.webhook_credentials))
        self.bulkhead = EndpointBulkhead(
            concurrency=own.webhook_per_endpoint_concurrency, wait_s=own.webhook_endpoint_wait_s,
            failures=own.webhook_circuit_failures, cooldown_s=own.webhook_circuit_cooldown_s,
            clock=clock)
        self.disabled = DisabledEndpoints(settings.database_url, own.webhook_endpoints_refresh_s)
        self.targets = TargetPolicy.from_setting(own.webhook_allowed_targets)
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = OutboundHttp(self.targets, timeout_s=own.webhook_timeout_s,
                                 connect_timeout_s=own.webhook_connect_timeout_s,
                                 max_answer_bytes=MAX_RESPONSE_BYTES, limit=self.concurrency,
                                 limit_per_host=self.per_endpoint, resolver=resolver, excerpt=self.excerpt)
        self.wall_clock = wall_clock

    def name_for(self, message: dict) -> str:
        return self.name

    def open_circuits(self) -> dict[str, int]:
        return {self.name: self.bulkhead.open_count()}

    async def start(self) -> None:
        await self.http.start()
        await self.disabled.start()

    async def close(self) -> None:
        await self.http.close()
        await self.disabled.close()

    async def send(self, message: dict) -> Outcome:
        request = build_request(message, signer=self.signer, credentials=self.credentials,
                                max_body_bytes=self.max_body_bytes, now=self.wall_clock())
        if isinstance(request, Permanent):
            return request
        if self.disabled.is_disabled(request.url):
            return Suppressed("endpoint_disabled", f"{request.url[:200]} answered 410 Gone earlier; "
                              "`tidings endpoints enable URL` re-enables it")
        # Refused before the bulkhead, so that a refused target takes no endpoint slot.
        if refused := self.targets.screen(request.target):
            return refused
        return await self.bulkhead.run(request.url, lambda: self._attempt(request))

    async def _attempt(self, request: WebhookRequest) -> Outcome:
        answer = await self.http.request(request.method, request.target, data=request.body, headers=request.headers)
        if not isinstance(answer, Answer):
            return answer
        status = answer.status
        # The receiver may echo the request: its own signing secrets are redacted too.
        text = self.excerpt(answer.body, *self.signer.secrets_for(request.target)) if status >= 300 else ""
        if status == 410:
            await self.disabled.disable(request.url, status, text, request.headers["Idempotency-Key"])
            return Permanent("endpoint_gone", text, status)
        return classify_http(status, text, answer.retry_after_s(self.wall_clock()))


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
