"""Webhook provider: sends each delivery to the recipient's URL as a signed HTTP request, through
one shared aiohttp session, behind a per-endpoint bulkhead and circuit breaker.

Timeouts (connect and total), no redirects, a capped request body and a capped response read;
URL and SSRF checks on the URL and on every resolved address (channels/outbound.py); what a
receiver answers is kept as a short excerpt with configured secrets redacted (answer_excerpt.py)."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

import aiohttp
from aiohttp.abc import AbstractResolver

from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import TargetPolicy, TargetRefused, guarded_connector, read_capped
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
    Transient,
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
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s,
                                             sock_connect=settings.webhook_connect_timeout_s)
        self.concurrency = settings.webhook_concurrency
        self.per_endpoint = settings.webhook_per_endpoint_concurrency
        self.max_body_bytes = settings.webhook_max_body_bytes
        self.signer = WebhookSigner.from_settings(settings.webhook_signing_secrets,
                                                  settings.webhook_endpoint_secrets)
        self.credentials = parse_credentials(settings.webhook_credentials)
        self.bulkhead = EndpointBulkhead(
            concurrency=settings.webhook_per_endpoint_concurrency, wait_s=settings.webhook_endpoint_wait_s,
            failures=settings.webhook_circuit_failures, cooldown_s=settings.webhook_circuit_cooldown_s,
            clock=clock)
        self.disabled = DisabledEndpoints(settings.database_url, settings.webhook_endpoints_refresh_s)
        self.targets = TargetPolicy.from_setting(settings.webhook_allowed_targets)
        self.resolver = resolver  # the system resolver unless a test injects one
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.wall_clock = wall_clock
        self.session: aiohttp.ClientSession | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    def open_circuits(self) -> dict[str, int]:
        return {self.name: self.bulkhead.open_count()}

    async def start(self) -> None:
        connector = guarded_connector(self.targets, self.resolver, limit=self.concurrency,
                                      limit_per_host=self.per_endpoint)
        self.session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                             headers={"User-Agent": "tidings/0.1"})
        await self.disabled.start()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await self.disabled.close()

    async def send(self, message: dict) -> Outcome:
        request = build_request(message, signer=self.signer, credentials=self.credentials,
                                max_body_bytes=self.max_body_bytes, now=self.wall_clock())
        if isinstance(request, Permanent):
            return request
        if self.disabled.is_disabled(request.url):
            return Suppressed("endpoint_disabled", f"{request.url[:200]} answered 410 Gone earlier; "
                              "`tidings endpoints enable URL` re-enables it")
        if refused := self.targets.screen(request.target):
            return refused
        return await self.bulkhead.run(request.url, lambda: self._attempt(request))

    async def _attempt(self, request: WebhookRequest) -> Outcome:
        try:
            async with self.session.request(request.method, request.url, data=request.body,
                                            headers=request.headers, allow_redirects=False) as response:
                status = response.status
                if 300 <= status < 400:
                    location = self.excerpt(response.headers.get("Location", ""))
                    return Permanent("redirect_refused", f"redirect to {location!r} not followed", status)
                # Read even a 2xx answer (up to the cap) so that the connection can be reused.
                answer = await read_capped(response, MAX_RESPONSE_BYTES)
                # The receiver may echo the request: its own signing secrets are redacted too.
                text = self.excerpt(answer, *self.signer.secrets_for(request.target)) if status >= 300 else ""
                if status == 410:
                    await self.disabled.disable(request.url, status, text, request.headers["Idempotency-Key"])
                    return Permanent("endpoint_gone", text, status)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.wall_clock())
                return classify_http(status, text, retry_after)
        except TargetRefused as exc:
            return Permanent("target_refused", str(exc))
        except asyncio.TimeoutError:
            return Transient("timeout", f"no complete response within {self.timeout.total}s")
        except aiohttp.InvalidURL as exc:
            return Permanent("invalid_url", self.excerpt(str(exc)))
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, self.excerpt(str(exc)))
