"""The outbound HTTP kit (channels/outbound_http.py) and one contract every provider that speaks HTTP
keeps through it: webhooks, Slack incoming webhooks and Web API, the custom HTTP SMS provider and
Twilio, each against one real receiver on loopback that answers in the shape the provider expects.

The SSRF side of the contract is tests/channels/test_outbound_ssrf.py."""
from __future__ import annotations

import asyncio
import importlib.metadata
import uuid

import pytest
from aiohttp import web

from channels.outbound import TargetPolicy
from channels.outbound_http import Answer, OutboundHttp, user_agent
from channels.slack.provider import SlackProvider
from channels.slack.threads import MemoryThreads
from channels.sms.http_provider import HttpSms
from channels.sms.twilio_provider import TwilioSms
from channels.webhook.provider import WebhookProvider
from consumer.outcomes import Delivered, Permanent, Transient
from consumer.settings import Settings
from tests.channels.test_slack import message as slack_message
from tests.channels.test_sms import message as sms_message
from tests.channels.test_webhook_provider import Receiver, message as webhook_message, serving
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN

LOOPBACK = "127.0.0.0/8"


class Peer(Receiver):
    """Answers each provider as its real peer would on success, and records which client
    connection (the peer's port) every request came on."""

    def __init__(self) -> None:
        super().__init__()
        self.connections: list[int] = []
        self.release = asyncio.Event()  # what a slow answer waits for
        self.answer = self.success

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.connections.append(request.transport.get_extra_info("peername")[1])
        return await super().handle(request)

    @staticmethod
    def success(request: web.Request) -> web.Response:
        if request.path.endswith("/Messages.json"):  # Twilio: the created message resource
            return web.json_response({"sid": "SM" + uuid.uuid4().hex, "status": "queued"}, status=201)
        if request.path.endswith("/chat.postMessage"):
            return web.json_response({"ok": True, "ts": "1700000000.000100"})
        return web.Response(text="ok")

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return self.success(request)


def webhook(base: str, **settings):
    return (WebhookProvider(Settings(webhook_allowed_targets=LOOPBACK, **settings)),
            webhook_message(f"{base}/hook"))


def slack_webhook(base: str, **settings):
    return (SlackProvider(Settings(slack_webhook_hosts="127.0.0.1", slack_allowed_targets=LOOPBACK,
                                   slack_per_channel_per_s=0, **settings), threads=MemoryThreads()),
            slack_message(f"{base}/services/T0/B0/x"))


def slack_api(base: str, **settings):
    return (SlackProvider(Settings(slack_api_url=f"{base}/api", slack_bot_token="xoxb-test",
                                   slack_allowed_targets=LOOPBACK, slack_per_channel_per_s=0, **settings),
                          threads=MemoryThreads()),
            slack_message("C0001"))


def sms_http(base: str, **settings):
    return HttpSms(Settings(sms_http_url=f"{base}/send", sms_allowed_targets=LOOPBACK, **settings)), sms_message()


def twilio(base: str, **settings):
    return (TwilioSms(Settings(sms_twilio_account_sid=ACCOUNT_SID, sms_twilio_auth_token=AUTH_TOKEN,
                               sms_twilio_from="+15005550006", sms_twilio_base_url=base,
                               sms_allowed_targets=LOOPBACK, **settings)),
            sms_message())


PROVIDERS = {"webhook": webhook, "slack webhook": slack_webhook, "slack api": slack_api, "sms http": sms_http,
             "sms twilio": twilio}
# Each provider's own timeout setting.
TIMEOUTS = {"webhook": "webhook_timeout_s", "slack webhook": "slack_timeout_s", "slack api": "slack_timeout_s",
            "sms http": "sms_timeout_s", "sms twilio": "sms_timeout_s"}


def exchange(kind: str, sends: int = 1, answer=None, **settings) -> tuple[list, Peer]:
    """`sends` messages in turn through a fresh provider of this kind; the outcomes and the peer."""
    async def scenario():
        peer = Peer()
        if answer is not None:
            peer.answer = answer(peer)
        async with serving(peer) as base:
            provider, message = PROVIDERS[kind](base, **settings)
            await provider.start()
            try:
                return [await provider.send(message) for _ in range(sends)], peer
            finally:
                peer.release.set()
                await provider.close()

    return asyncio.run(scenario())


@pytest.mark.parametrize("kind", PROVIDERS)
def test_every_provider_names_the_tidings_version_and_reuses_one_connection(kind):
    outcomes, peer = exchange(kind, sends=3)
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    version = importlib.metadata.version("tidings")
    assert all(r["headers"]["User-Agent"].startswith(f"tidings/{version}") for r in peer.requests)
    assert len(peer.requests) == 3 and len(set(peer.connections)) == 1  # pooled: one connection for all


@pytest.mark.parametrize("kind", PROVIDERS)
def test_no_provider_follows_a_redirect(kind):
    redirect = lambda peer: lambda request: web.Response(status=302, headers={"Location": "/elsewhere"})  # noqa: E731
    [outcome], peer = exchange(kind, answer=redirect)
    assert isinstance(outcome, Permanent) and outcome.error_class == "redirect_refused", outcome
    assert outcome.status_code == 302 and "/elsewhere" in outcome.message
    assert [r["path"] for r in peer.requests] == [peer.requests[0]["path"]]  # one request, not followed


@pytest.mark.parametrize("kind", PROVIDERS)
def test_every_provider_gives_up_after_its_timeout(kind):
    [outcome], peer = exchange(kind, answer=lambda peer: peer.slow, **{TIMEOUTS[kind]: 0.3})
    assert isinstance(outcome, Transient) and outcome.error_class == "timeout", outcome
    assert "0.3s" in outcome.message


def test_answers_are_read_up_to_the_cap_only():
    async def scenario():
        peer = Peer()
        peer.answer = lambda request: web.Response(status=500, body=b"x" * (1024 * 1024))
        async with serving(peer) as base:
            http = OutboundHttp(TargetPolicy.from_setting(LOOPBACK), timeout_s=5.0, max_answer_bytes=1000)
            await http.start()
            try:
                return await http.request("GET", f"{base}/big")
            finally:
                await http.close()

    answer = asyncio.run(scenario())
    assert isinstance(answer, Answer) and answer.status == 500 and answer.body == b"x" * 1000


def test_the_user_agent_falls_back_when_tidings_is_not_installed(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    user_agent.cache_clear()
    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    try:
        assert user_agent() == "tidings/unknown"
    finally:
        user_agent.cache_clear()
