"""SSRF protection: address classes, odd IPv4 spellings, the allowlist, and a provider that
connects only to the address its resolver checked (a real receiver on loopback)."""
from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from channels.webhook.provider import WebhookProvider
from channels.outbound import TargetPolicy, TargetRefused, refusal
from consumer.outcomes import Delivered, Permanent
from consumer.settings import Settings, SettingsError
from tests.channels.test_webhook_provider import Receiver, message, serving

REFUSED = {
    "127.0.0.1": "loopback", "127.9.9.9": "loopback", "::1": "loopback",
    "10.0.0.1": "private", "172.16.5.4": "private", "192.168.1.1": "private",
    "169.254.169.254": "link-local", "fe80::1": "link-local",
    "100.64.0.1": "CGNAT", "100.127.255.254": "CGNAT",
    "fc00::1": "private", "fd12:3456::1": "private",
    "fec0::1": "site-local", "feff:ffff::1": "site-local",  # deprecated, yet routed in some networks
    "224.0.0.1": "multicast", "ff02::1": "multicast",
    "0.0.0.0": "unspecified", "::": "unspecified",
    "::ffff:127.0.0.1": "IPv4-mapped IPv6", "::ffff:8.8.8.8": "IPv4-mapped IPv6",
    "2002:7f00:1::1": "IPv4-embedding IPv6", "64:ff9b::7f00:1": "IPv4-embedding IPv6",
    "240.0.0.1": "reserved", "198.18.0.1": "private",
}


@pytest.mark.parametrize("address,reason", sorted(REFUSED.items()))
def test_internal_address_classes_are_refused(address, reason):
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", ["0x7f.1", "2130706433", "0177.0.0.1", "127.1", "0x7f000001",
                                  "0x08080808", "010.0.0.1", "1.2.3"])
def test_non_canonical_ipv4_spellings_are_refused_even_when_public(host):
    with pytest.raises(TargetRefused, match="non-canonical IPv4"):
        TargetPolicy().check_host(host)


def test_the_allowlist_takes_subnets_and_host_names_and_rejects_nonsense():
    policy = TargetPolicy.from_setting("10.1.0.0/16, receiver.internal, ::1, [fd00::]/8")
    policy.check_address("x", ipaddress.ip_address("10.1.2.3"))
    policy.check_address("x", ipaddress.ip_address("::1"))
    policy.check_host("Receiver.Internal.")
    with pytest.raises(TargetRefused, match="private address 10.2.0.1"):
        policy.check_address("x", ipaddress.ip_address("10.2.0.1"))
    with pytest.raises(TargetRefused, match="IPv4-mapped"):  # a mapped form does not ride on a v4 entry
        TargetPolicy.from_setting("127.0.0.0/8").check_host("::ffff:127.0.0.1")
    with pytest.raises(SettingsError, match="webhook_allowed_targets"):
        TargetPolicy.from_setting("http://evil/")


class FakeDns(AbstractResolver):
    """A resolver that answers from a table, as a hostile or rebinding DNS server could."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for a in self.table[host]]

    async def close(self):
        pass


def deliver(address: str, *, allowed: str | None = None, dns: FakeDns | None = None, receiver=None):
    async def scenario():
        provider = WebhookProvider(Settings(webhook_allowed_targets=allowed, webhook_timeout_s=5.0), resolver=dns)
        await provider.start()
        try:
            return await provider.send(message(address))
        finally:
            await provider.close()
    return asyncio.run(scenario())


def with_receiver(test):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as url:
            port = int(url.rsplit(":", 1)[1])
            outcome = await asyncio.to_thread(test, port)
        return outcome, receiver.requests
    return asyncio.run(scenario())


def test_loopback_is_refused_by_default_and_nothing_is_sent():
    outcome, requests = with_receiver(lambda port: deliver(f"http://127.0.0.1:{port}/hook"))
    assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused"
    assert "loopback" in outcome.message and requests == []


def test_localhost_by_name_is_refused_after_resolution():
    outcome, requests = with_receiver(lambda port: deliver(f"http://localhost:{port}/hook"))
    assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused"
    assert requests == []


def test_allowlisted_loopback_is_delivered():
    outcome, requests = with_receiver(lambda port: deliver(f"http://127.0.0.1:{port}/hook", allowed="127.0.0.1"))
    assert isinstance(outcome, Delivered) and len(requests) == 1


def test_a_name_resolving_to_any_internal_address_is_refused():
    dns = FakeDns({"hooks.example.com": ["93.184.216.34", "169.254.169.254"]})
    outcome = deliver("http://hooks.example.com/hook", dns=dns)
    assert isinstance(outcome, Permanent) and "169.254.169.254" in outcome.message
    assert dns.asked == ["hooks.example.com"]


def test_the_connection_goes_to_the_checked_address_only():
    """`receiver.test` exists only in the fake DNS: the request arriving at the loopback receiver
    proves aiohttp connected to the address the guard checked, with no second lookup."""
    dns = FakeDns({"receiver.test": ["127.0.0.1"]})
    outcome, requests = with_receiver(
        lambda port: deliver(f"http://receiver.test:{port}/hook", allowed="127.0.0.0/8", dns=dns))
    assert isinstance(outcome, Delivered)
    assert [r["headers"]["Host"].split(":")[0] for r in requests] == ["receiver.test"]
    assert dns.asked == ["receiver.test"]


CANARY_URLS = [
    "http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://0x7f.1:{port}/", "http://2130706433:{port}/", "http://017700000001:{port}/", "http://127.1:{port}/",
    "http://canary.test:{port}/",  # the injected resolver says 127.0.0.1
    "http://mixed.test:{port}/",  # one public and one loopback address
]


def canary_attempts(url_template: str, *, allowed: str | None = None, redirect_from: str | None = None) -> tuple:
    """A TCP listener on 127.0.0.1 that counts connections; the provider is pointed at it in some
    spelling (or redirected to it) and must never connect."""
    async def scenario():
        connections = []
        canary = await asyncio.start_server(lambda r, w: (connections.append(1), w.close()), "127.0.0.1", 0)
        port = canary.sockets[0].getsockname()[1]
        url = url_template.format(port=port)
        dns = FakeDns({"canary.test": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "127.0.0.1"],
                       "localhost": ["127.0.0.1", "::1"]})
        provider = WebhookProvider(Settings(webhook_allowed_targets=allowed, webhook_timeout_s=5.0), resolver=dns)
        await provider.start()
        try:
            if redirect_from is None:
                outcome = await provider.send(message(url))
            else:
                receiver = Receiver()
                receiver.answer = lambda request: web.Response(status=302, headers={"Location": url})
                async with serving(receiver) as receiver_url:
                    outcome = await provider.send(message(receiver_url.replace("127.0.0.1", redirect_from)))
        finally:
            await provider.close()
            canary.close()
        return outcome, connections
    return asyncio.run(scenario())


@pytest.mark.parametrize("url", CANARY_URLS)
def test_the_canary_sees_no_connection_whatever_the_spelling(url):
    outcome, connections = canary_attempts(url)
    assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused", outcome
    assert connections == []


def test_a_redirect_to_an_internal_address_is_not_followed():
    """The receiver itself is allowed (listed by name); its 302 to the canary is refused."""
    outcome, connections = canary_attempts("http://127.0.0.1:{port}/", allowed="localhost", redirect_from="localhost")
    assert isinstance(outcome, Permanent) and outcome.error_class == "redirect_refused", outcome
    assert connections == []


def test_metadata_address_is_refused_before_any_lookup():
    dns = FakeDns({})
    outcome = deliver("http://169.254.169.254/latest/meta-data/", dns=dns)
    assert isinstance(outcome, Permanent) and "link-local" in outcome.message and dns.asked == []
