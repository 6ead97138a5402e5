"""The SSRF matrix through every provider that speaks HTTP: webhooks and Slack incoming webhooks
(the URL comes from the event), and the Slack Web API, the custom HTTP SMS gateway and Twilio (the
URL is the operator's setting, guarded all the same). Every internal destination, in every
spelling, by name or by redirect, is refused and no connection is attempted.

Addresses such as 10.0.0.1 or fd00::1 cannot be bound on a test machine, so every connect the event
loop makes is recorded and sent to one canary listener on loopback instead: a canary that sees
nothing means no connection was attempted anywhere. A control case per provider lets one through to
show the canary would see it."""
from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from channels.slack.provider import SlackProvider
from channels.slack.threads import MemoryThreads
from channels.sms.http_provider import HttpSms
from channels.sms.provider import SmsProvider
from channels.sms.twilio_provider import TwilioSms
from channels.webhook.provider import WebhookProvider
from consumer.outcomes import Permanent
from consumer.settings import Settings
from tests.channels.test_slack import message as slack_message
from tests.channels.test_sms import message as sms_message
from tests.channels.test_webhook_provider import Receiver, message as webhook_message, serving
from tests.channels.test_webhook_targets import FakeDns
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN

# What the injected resolver answers: names an attacker controls can point anywhere.
DNS = {"localtest": ["127.0.0.1"], "localhost": ["127.0.0.1", "::1"], "metadata.test": ["169.254.169.254"],
       "intranet.test": ["10.1.2.3"], "ula.test": ["fd00::5"], "sitelocal.test": ["fec0::5"],
       "mapped.test": ["::ffff:192.168.0.1"], "mixed.test": ["93.184.216.34", "10.0.0.7"],
       "redirector.test": ["127.0.0.1"], "hooks.slack.com": ["172.31.0.9"]}

MATRIX = {
    "loopback": "http://127.0.0.1:{port}/",
    "loopback 127.9.9.9": "http://127.9.9.9:{port}/",
    "loopback ::1": "http://[::1]:{port}/",
    "loopback hex": "http://0x7f.1:{port}/",
    "loopback one number": "http://2130706433:{port}/",
    "loopback octal": "http://0177.0.0.1:{port}/",
    "loopback short": "http://127.1:{port}/",
    "loopback by name": "http://localhost:{port}/",
    "unspecified": "http://0.0.0.0:{port}/",
    "RFC 1918 10/8": "http://10.0.0.1:{port}/",
    "RFC 1918 172.16/12": "http://172.16.0.1:{port}/",
    "RFC 1918 192.168/16": "http://192.168.1.1:{port}/",
    "link-local": "http://169.254.1.1:{port}/",
    "cloud metadata": "http://169.254.169.254:{port}/latest/meta-data/",
    "CGNAT": "http://100.64.0.1:{port}/",
    "ULA fd00::/8": "http://[fd00::1]:{port}/",
    "link-local IPv6": "http://[fe80::1]:{port}/",
    "site-local fec0::/10": "http://[fec0::1]:{port}/",
    "IPv4-mapped loopback": "http://[::ffff:127.0.0.1]:{port}/",
    "IPv4-mapped private": "http://[::ffff:10.0.0.1]:{port}/",
    "name -> loopback": "http://localtest:{port}/",
    "name -> metadata": "http://metadata.test:{port}/",
    "name -> RFC 1918": "http://intranet.test:{port}/",
    "name -> ULA": "http://ula.test:{port}/",
    "name -> site-local": "http://sitelocal.test:{port}/",
    "name -> IPv4-mapped": "http://mapped.test:{port}/",
    "name -> public and private": "http://mixed.test:{port}/",
}


def webhook_provider(allowed: str | None, url: str) -> WebhookProvider:
    return WebhookProvider(Settings(webhook_allowed_targets=allowed, webhook_timeout_s=5.0), resolver=FakeDns(DNS))


def slack_provider(allowed: str | None, url: str, hosts: str = "*") -> SlackProvider:
    """Every host accepted as a Slack webhook host, so that only the SSRF guard stands in the way."""
    settings = Settings(slack_webhook_hosts=hosts, slack_allowed_targets=allowed, slack_timeout_s=5.0,
                        slack_per_channel_per_s=0.0)
    return SlackProvider(settings, threads=MemoryThreads(), resolver=FakeDns(DNS))


def slack_api_provider(allowed: str | None, url: str) -> SlackProvider:
    settings = Settings(slack_api_url=url, slack_bot_token="xoxb-test", slack_allowed_targets=allowed,
                        slack_timeout_s=5.0, slack_per_channel_per_s=0.0)
    return SlackProvider(settings, threads=MemoryThreads(), resolver=FakeDns(DNS))


def sms_http_provider(allowed: str | None, url: str) -> SmsProvider:
    settings = Settings(sms_providers="http", sms_http_url=url, sms_allowed_targets=allowed, sms_timeout_s=5.0)
    return SmsProvider(settings, providers=[HttpSms(settings, resolver=FakeDns(DNS))])


def twilio_provider(allowed: str | None, url: str) -> SmsProvider:
    settings = Settings(sms_twilio_account_sid=ACCOUNT_SID, sms_twilio_auth_token=AUTH_TOKEN,
                        sms_twilio_from="+15005550006", sms_twilio_base_url=url, sms_allowed_targets=allowed,
                        sms_timeout_s=5.0)
    return SmsProvider(settings, providers=[TwilioSms(settings, resolver=FakeDns(DNS))])


# channel/provider -> (the provider, given the allowed targets and the URL; the message, given the URL).
# Webhooks and Slack incoming webhooks take the URL from the message, the others from their settings.
CHANNELS = {
    "webhook": (webhook_provider, webhook_message),
    "slack webhook": (slack_provider, slack_message),
    "slack api": (slack_api_provider, lambda url: slack_message("C0001")),
    "sms http": (sms_http_provider, lambda url: sms_message()),
    "sms twilio": (twilio_provider, lambda url: sms_message()),
}


def attempt(channel: str, url_template: str, *, allowed: str | None = None,
            redirect: bool = False, **provider_args) -> tuple:
    """Sends one message to the URL (or to a redirector that answers 302 to it); returns the outcome,
    the addresses the loop tried to connect to, and the connections the canary accepted."""
    make_provider, make_message = CHANNELS[channel]

    async def scenario():
        canary_hits, attempts = [], []
        canary = await asyncio.start_server(lambda r, w: (canary_hits.append(1), w.close()), "127.0.0.1", 0)
        canary_port = canary.sockets[0].getsockname()[1]
        redirector = Receiver()
        async with serving(redirector) as redirector_url:
            redirector_port = int(redirector_url.rsplit(":", 1)[1])
            url = url_template.format(port=canary_port)
            redirector.answer = lambda request: web.Response(status=302, headers={"Location": url})
            loop = asyncio.get_running_loop()
            real_connect = loop.sock_connect

            async def recorded_connect(sock, address):
                if address[1] == redirector_port:
                    return await real_connect(sock, address)
                attempts.append(address[0])
                to = ("::ffff:127.0.0.1", canary_port) if sock.family == socket.AF_INET6 else ("127.0.0.1", canary_port)
                return await real_connect(sock, to)

            loop.sock_connect = recorded_connect
            target = f"http://redirector.test:{redirector_port}/services/T0/B0/x" if redirect else url
            provider = make_provider(allowed, target, **provider_args)
            await provider.start()
            try:
                outcome = await provider.send(make_message(target))
            finally:
                await provider.close()
                canary.close()
        return outcome, attempts, canary_hits

    return asyncio.run(scenario())


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("url", MATRIX.values(), ids=MATRIX.keys())
def test_no_internal_destination_is_reached_whatever_the_spelling(channel, url):
    outcome, attempts, canary_hits = attempt(channel, url)
    assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused", outcome
    assert attempts == [] and canary_hits == []


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("url", [MATRIX["loopback"], MATRIX["cloud metadata"], MATRIX["site-local fec0::/10"],
                                 MATRIX["name -> RFC 1918"]])
def test_a_redirect_to_an_internal_destination_is_not_followed(channel, url):
    """The redirector itself is allowed (listed by name); its 302 to the internal address is not followed."""
    outcome, attempts, canary_hits = attempt(channel, url, allowed="redirector.test", redirect=True)
    assert isinstance(outcome, Permanent) and outcome.status_code == 302, outcome
    assert attempts == [] and canary_hits == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_control_an_allowed_internal_target_does_reach_the_canary(channel):
    """Without this, a harness that recorded nothing would pass every case above."""
    _, attempts, canary_hits = attempt(channel, MATRIX["RFC 1918 10/8"], allowed="10.0.0.0/8")
    assert attempts == ["10.0.0.1"] and canary_hits == [1]


def test_slacks_own_host_is_still_guarded_when_its_name_resolves_internally():
    """hooks.slack.com is accepted by default, but a poisoned or split-horizon DNS answer for it
    must not take the request into the operator's network."""
    outcome, attempts, canary_hits = attempt("slack webhook", "https://hooks.slack.com/services/T0/B0/x",
                                             hosts="hooks.slack.com")
    assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused", outcome
    assert "172.31.0.9" in outcome.message and attempts == [] and canary_hits == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/services/T0/B0/x",
    "https://hooks.slack.com.evil.example/services/T0/B0/x",
    "https://evil.example/services/T0/B0/x?https://hooks.slack.com/",
    "https://hooks.slack.com@evil.example/services/T0/B0/x",
    "https://xn--hooks-slack-com.example/services/T0/B0/x",
    "https://localtest:{port}/services/T0/B0/x",
])
def test_a_slack_webhook_off_slacks_host_is_invalid_address_and_nothing_is_sent(url):
    outcome, attempts, canary_hits = attempt("slack webhook", url, allowed="127.0.0.0/8", hosts="hooks.slack.com")
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_address", outcome
    assert "hooks.slack.com" in outcome.message and attempts == [] and canary_hits == []


def cases_for(name: str, make_provider, make_message, secret: str | None = None) -> tuple:
    """The matrix, the redirect and the control case for a channel's own test module (a channel in
    a folder of its own adds itself here without editing this file):

        (test_the_ssrf_matrix_reaches_no_internal_address, test_a_redirect_to_an_internal_address_is_not_followed,
         test_control_an_allowed_internal_target_does_reach_the_canary) = ssrf.cases_for("teams", provider, message)

    `secret`: a value (a token in the URL) that no outcome may show."""

    @pytest.mark.parametrize("destination", sorted(MATRIX))
    def matrix(destination, monkeypatch):
        monkeypatch.setitem(CHANNELS, name, (make_provider, make_message))
        outcome, attempts, canary_hits = attempt(name, MATRIX[destination])
        assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused", outcome
        assert attempts == [] and canary_hits == []
        assert secret is None or secret not in outcome.message

    def redirect(monkeypatch):
        monkeypatch.setitem(CHANNELS, name, (make_provider, make_message))
        outcome, attempts, canary_hits = attempt(name, MATRIX["cloud metadata"], redirect=True, allowed="redirector.test")
        assert isinstance(outcome, Permanent) and outcome.status_code == 302, outcome
        assert attempts == [] and canary_hits == []

    def control(monkeypatch):
        monkeypatch.setitem(CHANNELS, name, (make_provider, make_message))
        _, attempts, canary_hits = attempt(name, MATRIX["RFC 1918 10/8"], allowed="10.0.0.0/8")
        assert attempts == ["10.0.0.1"] and canary_hits == [1]

    return matrix, redirect, control
