"""The SSRF guard under httpx, for APNs' HTTP/2 connections: every connection's host is resolved
by the project's GuardedResolver (channels/outbound.py), each address checked against the channel's
TargetPolicy, and the connection made to a checked address (TLS still verifies the host name)."""
from __future__ import annotations

import ipaddress
import socket

import httpcore
import httpx
from aiohttp.abc import AbstractResolver

from channels.outbound import GuardedResolver, TargetPolicy


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: TargetPolicy, resolver: AbstractResolver | None = None):
        self.resolver = GuardedResolver(policy, resolver)
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options=None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._checked_addresses(host, port)  # TargetRefused passes through httpx
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def _checked_addresses(self, host: str, port: int) -> list[str]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return [info["host"] for info in await self.resolver.resolve(host, port, socket.AF_UNSPEC)]
        self.resolver.policy.check_host(host)  # a literal: nothing to resolve, the policy decides
        return [host]

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("APNs is reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)

    async def aclose(self) -> None:
        await self.resolver.close()


def guarded_http2(policy: TargetPolicy, verify, resolver: AbstractResolver | None = None) -> httpx.AsyncHTTPTransport:
    """An HTTP/2-only httpx transport whose connections go through GuardedBackend."""
    transport = httpx.AsyncHTTPTransport(verify=verify, http1=False, http2=True)
    # httpx offers no public hook for the network backend, so its connection pool is made again
    # with the same TLS context and the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=verify, http1=False, http2=True,
                                                   network_backend=GuardedBackend(policy, resolver))
    return transport
