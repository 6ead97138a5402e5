"""The one outbound HTTP kit of the channels: every provider that speaks HTTP (webhooks, Slack's
incoming webhooks and Web API, the custom HTTP SMS gateway, Twilio) sends through an OutboundHttp.

One pooled aiohttp session per provider on a connector whose every lookup goes through the SSRF
guard (channels/outbound.py), for the URLs events name and the ones operators configure alike;
IP literals, which aiohttp never resolves, are screened before the request. Connect and total
timeouts, redirects never followed (a 3xx is a permanent `redirect_refused`), answers read up to a
cap, and a User-Agent naming the Tidings version. What goes wrong on the way is an outcome, never an
exception: a refused target or a malformed URL is Permanent, a timeout or a broken connection is
Transient, with the text cut and redacted by the provider's AnswerExcerpt."""
from __future__ import annotations

import asyncio
import functools
import importlib.metadata
from dataclasses import dataclass
from typing import Any, Mapping

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import TargetPolicy, TargetRefused, guarded_connector, parse_url, read_capped
from consumer.outcomes import Permanent, Transient, retry_after_seconds


@functools.cache
def user_agent() -> str:
    """`tidings/<version>` of the installed distribution (`tidings/unknown` when run from a tree
    that was never installed)."""
    try:
        version = importlib.metadata.version("tidings")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"tidings/{version}"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer that was not a redirect: its status, headers and at most the cap of its body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def retry_after_s(self, now: float | None = None) -> float | None:
        return retry_after_seconds(self.headers.get("Retry-After"), now)


class OutboundHttp:
    """A provider's HTTP client: start() in the running loop, request() per send, close() at the end."""

    def __init__(self, policy: TargetPolicy, *, timeout_s: float, connect_timeout_s: float | None = None,
                 max_answer_bytes: int = 64 * 1024, limit: int = 100, limit_per_host: int = 0,
                 resolver: AbstractResolver | None = None, excerpt: AnswerExcerpt | None = None):
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self.max_answer_bytes = max_answer_bytes
        self.limit, self.limit_per_host = limit, limit_per_host
        self.resolver = resolver  # the system resolver unless a test injects one
        self.excerpt = excerpt or AnswerExcerpt()
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = guarded_connector(self.policy, self.resolver, limit=self.limit,
                                      limit_per_host=self.limit_per_host)
        self.session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                             headers={"User-Agent": user_agent()})

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def request(self, method: str, url: str | URL, *, data: Any = None, headers: Mapping[str, str] | None = None,
                      max_answer_bytes: int | None = None) -> Answer | Permanent | Transient:
        """One request, no redirects followed; the answer read up to `max_answer_bytes` (the kit's
        cap unless given), or the outcome of what went wrong."""
        target = url if isinstance(url, URL) else parse_url(url)
        if isinstance(target, Permanent):
            return target
        if refused := self.policy.screen(target):
            return refused
        try:
            async with self.session.request(method, target, data=data, headers=headers,
                                            allow_redirects=False) as response:
                if 300 <= response.status < 400:
                    location = self.excerpt(response.headers.get("Location", ""))
                    return Permanent("redirect_refused", f"redirect to {location!r} not followed", response.status)
                # Read even a 2xx answer (up to the cap) so that the connection can be reused.
                body = await read_capped(response, max_answer_bytes or self.max_answer_bytes)
                return Answer(response.status, response.headers, body)
        except TargetRefused as exc:
            return Permanent("target_refused", str(exc))
        except asyncio.TimeoutError:
            return Transient("timeout", f"no complete response within {self.timeout.total}s")
        except aiohttp.InvalidURL as exc:
            return Permanent("invalid_url", self.excerpt(str(exc)))
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, self.excerpt(str(exc)))


class OverHttp:
    """The lifecycle of a provider whose one connection pool is `self.http` (an OutboundHttp) and
    that records one provider name."""

    name: str
    http: OutboundHttp

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        await self.http.start()

    async def close(self) -> None:
        await self.http.close()
