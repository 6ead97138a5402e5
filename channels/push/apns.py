"""Sends to one iOS, iPadOS or macOS device through the Apple Push Notification service: HTTP/2
over TLS (`POST /3/device/<token>`) with a provider token (JWT, ES256), to the production or the
sandbox host by the device's platform, every connection through the SSRF guard."""
from __future__ import annotations

import ssl
import time
from typing import Callable

import httpx
from aiohttp.abc import AbstractResolver
from yarl import URL

from channels.outbound_http import user_agent
from channels.outbound import TargetPolicy, TargetRefused, parse_url
from channels.push.answers import APNS_PROVIDER_TOKEN_REFUSED, apns_outcome, apns_reason
from channels.push.apns_request import apns_headers, apns_payload
from channels.push.apns_token import ProviderToken
from channels.push.apns_transport import guarded_http2
from channels.push.device import Device
from channels.push.options import PushOptions
from channels.push.settings import PushSettings
from consumer.outcomes import Outcome, Permanent, Transient, retry_after_seconds
from consumer.settings import SettingsError

MAX_ANSWER = 4096  # `{"reason": ..., "timestamp": ...}`


class ApnsSender:
    name = "apns"

    def __init__(self, own: PushSettings, key_pem: str, policy: TargetPolicy, excerpt, *,
                 resolver: AbstractResolver | None = None, clock: Callable[[], float] = time.time):
        self.token = ProviderToken(key_pem, own.push_apns_key_id, own.push_apns_team_id, clock)
        self.hosts = {"apns": _base(own.push_apns_production_url, "push_apns_production_url"),
                      "apns-sandbox": _base(own.push_apns_sandbox_url, "push_apns_sandbox_url")}
        self.tls = ssl.create_default_context()
        if own.push_apns_ca_file:
            try:
                self.tls.load_verify_locations(cafile=own.push_apns_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise SettingsError(f"setting push_apns_ca_file: cannot load {own.push_apns_ca_file!r} ({exc})") from None
        self.policy, self.resolver, self.excerpt = policy, resolver, excerpt
        self.timeout_s = own.push_timeout_s
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.client = httpx.AsyncClient(transport=guarded_http2(self.policy, self.tls, self.resolver),
                                        timeout=self.timeout_s, follow_redirects=False,
                                        headers={"User-Agent": user_agent()})

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def send(self, device: Device, message: dict, options: PushOptions) -> Outcome:
        payload = apns_payload(message, options)
        if isinstance(payload, Permanent):
            return payload
        url = self.hosts[device.platform] / "3" / "device" / device.token
        if refused := self.policy.screen(url):
            return Permanent(refused.error_class, refused.message, provider=self.name)
        for attempt in range(2):
            provider_token = self.token.current()
            answer = await self._post(url, apns_headers(device, message, options, provider_token), payload)
            if not isinstance(answer, httpx.Response):
                return answer
            # A refused provider token is renewed once, and the push sent again with the new one.
            refused = answer.status_code == 403 and apns_reason(answer.text) in APNS_PROVIDER_TOKEN_REFUSED
            if not (refused and attempt == 0 and self.token.renew_after_refusal(provider_token)):
                break
        return apns_outcome(answer.status_code, answer.headers.get("apns-id"), answer.text,
                            retry_after_seconds(answer.headers.get("retry-after")),
                            lambda text: self.excerpt(text, provider_token))

    async def _post(self, url: URL, headers: dict, payload: bytes) -> httpx.Response | Outcome:
        try:
            async with self.client.stream("POST", str(url), headers=headers, content=payload) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_ANSWER:
                        break
                return httpx.Response(response.status_code, headers=response.headers, content=body[:MAX_ANSWER])
        except TargetRefused as exc:
            return Permanent("target_refused", str(exc), provider=self.name)
        except httpx.TimeoutException:
            return Transient("timeout", f"no complete answer within {self.timeout_s}s", provider=self.name)
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            return Transient(type(exc).__name__, self.excerpt(str(exc)), provider=self.name)


def _base(raw: str, setting: str) -> URL:
    url = parse_url(raw)
    if isinstance(url, Permanent):
        raise SettingsError(f"setting {setting}: {url.message}")
    if url.scheme != "https":
        raise SettingsError(f"setting {setting}: APNs is reached over https")
    return url.with_path("/")
