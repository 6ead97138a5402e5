"""Webhook provider: sends each delivery to the recipient's URL as a signed HTTP request, through
one shared aiohttp session, behind a per-endpoint bulkhead and circuit breaker.

Timeouts (connect and total), no redirects, a capped request body and a capped response read;
SSRF checks on the URL and on every resolved address (channels/webhook_targets.py)."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from aiohttp.abc import AbstractResolver

import aiohttp
from yarl import URL

from channels.webhook_bulkhead import EndpointBulkhead
from channels.webhook_endpoints import DisabledEndpoints
from channels.webhook_request import (
    WebhookRequest,
    build_request,
    parse_credentials,
    payload,
)
from channels.webhook_signing import WebhookSigner
from channels.webhook_targets import GuardedResolver, TargetPolicy, TargetRefused
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
MAX_ERROR_TEXT = 2048


class WebhookProvider:
    name = "http"

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, resolver: AbstractResolver | None = None):
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s,
                                             sock_connect=settings.webhook_connect_timeout_s)
        self.concurrency = settings.webhook_concurrency
        self.per_endpoint = settings.webhook_per_endpoint_concurrency
        self.max_body_bytes = settings.webhook_max_body_bytes
        self.signer = WebhookSigner.from_setting(settings.webhook_signing_secrets)
        self.credentials = parse_credentials(settings.webhook_credentials)
        self.bulkhead = EndpointBulkhead(
            concurrency=settings.webhook_per_endpoint_concurrency, wait_s=settings.webhook_endpoint_wait_s,
            failures=settings.webhook_circuit_failures, cooldown_s=settings.webhook_circuit_cooldown_s,
            clock=clock)
        self.disabled = DisabledEndpoints(settings.database_url, settings.webhook_endpoints_refresh_s)
        self.targets = TargetPolicy.from_setting(settings.webhook_allowed_targets)
        self.resolver = resolver  # the system resolver unless a test injects one
        self.wall_clock = wall_clock
        self.session: aiohttp.ClientSession | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    def open_circuits(self) -> dict[str, int]:
        return {self.name: self.bulkhead.open_count()}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.per_endpoint,
                                         ttl_dns_cache=60, resolver=GuardedResolver(self.targets, self.resolver))
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
        try:
            self.targets.check_host(URL(request.url).raw_host or "")
        except TargetRefused as exc:
            return Permanent("target_refused", str(exc))
        return await self.bulkhead.run(request.url, lambda: self._attempt(request))

    async def _attempt(self, request: WebhookRequest) -> Outcome:
        try:
            async with self.session.request(request.method, request.url, data=request.body,
                                            headers=request.headers, allow_redirects=False) as response:
                status = response.status
                if 300 <= status < 400:
                    location = response.headers.get("Location", "")[:200]
                    return Permanent("redirect_refused", f"redirect to {location!r} not followed", status)
                # Read at most the cap; leaving the rest unread makes aiohttp close the connection.
                text = (await _read_capped(response, MAX_RESPONSE_BYTES)).decode("utf-8", "replace")
                if status == 410:
                    await self.disabled.disable(request.url, status, text[:MAX_ERROR_TEXT],
                                                request.headers["Idempotency-Key"])
                    return Permanent("endpoint_gone", text[:MAX_ERROR_TEXT], status)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.wall_clock())
                return classify_http(status, "" if status < 300 else text[:MAX_ERROR_TEXT], retry_after)
        except TargetRefused as exc:
            return Permanent("target_refused", str(exc))
        except asyncio.TimeoutError:
            return Transient("timeout", f"no complete response within {self.timeout.total}s")
        except aiohttp.InvalidURL as exc:
            return Permanent("invalid_url", str(exc))
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, str(exc))


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    chunks, size = [], 0
    while size < cap:
        chunk = await response.content.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
