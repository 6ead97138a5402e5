"""The Discord provider against a fake that speaks Execute Webhook's request and answer shapes: the
body Discord gets (content, embeds, username, avatar, no pings by default), each documented answer
to its outcome, 429 and its retry_after, X-RateLimit-* headers holding a webhook, pacing per
webhook, only Discord's hosts accepted, the webhook token never in an outcome, and the SSRF matrix."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid

import pytest

from channels.discord.provider import DiscordProvider
from channels.discord.settings import DiscordSettings
from consumer.outcomes import Deferred, Delivered, Permanent, Transient
from consumer.settings import Settings
from tests.channels import test_outbound_ssrf as ssrf
from tests.fixtures.discord import LOOPBACK, FakeDiscord, discord_error, rate_limited, token_of

HOOK, OTHER = "112233445566778899", "223344556677889900"


@pytest.fixture
def discord():
    server = FakeDiscord()
    yield server
    server.close()


def message(address: str, text: str | None = "Deploy of **api** finished", options: dict | None = None) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "discord",
            "priority": "HIGH", "address": address, "subject": "Deploy", "text": text,
            "options": json.dumps(options or {}), "attempt": 1}


class Clock:
    """Time the provider sees and sleeps through, without sleeping."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def send_all(messages: list[dict], clock: Clock | None = None, **settings) -> list:
    async def run():
        timing = {"clock": clock, "sleep": clock.sleep} if clock else {}
        provider = DiscordProvider(Settings(**{**LOOPBACK, "discord_per_webhook_per_s": 0, **settings}), **timing)
        await provider.start()
        try:
            return [await provider.send(m) for m in messages]
        finally:
            await provider.close()
    return asyncio.run(run())


def test_the_text_is_posted_as_content_and_nobody_is_pinged(discord):
    [outcome] = send_all([message(discord.webhook_url(), "@everyone disk full on node-7",
                                  {"username": "Tidings", "avatar_url": "https://example.com/bell.png"})])
    [posted] = discord.posted
    assert outcome == Delivered(status_code=200, provider_message_id=posted["id"])
    assert posted["body"] == {"content": "@everyone disk full on node-7", "username": "Tidings",
                              "avatar_url": "https://example.com/bell.png", "allowed_mentions": {"parse": []}}
    assert posted["webhook_id"] == HOOK and posted["thread_id"] is None


def test_embeds_a_thread_and_explicit_mentions_go_as_discord_takes_them(discord):
    embeds = [{"title": "Invoice INV-7", "color": 5814783, "fields": [{"name": "Total", "value": "99.00"}]}]
    options = {"embeds": embeds, "tts": True, "thread_id": 556677889900112233,
               "allowed_mentions": {"parse": ["users"], "roles": ["334455667788990011"]}}
    outcomes = send_all([message(discord.webhook_url(version="/v10"), None, options)])
    assert isinstance(outcomes[0], Delivered) and outcomes[0].provider_message_id == discord.posted[0]["id"]
    posted = discord.posted[0]
    assert posted["body"] == {"embeds": embeds, "tts": True,
                              "allowed_mentions": {"parse": ["users"], "roles": ["334455667788990011"]}}
    assert posted["thread_id"] == "556677889900112233"


@pytest.mark.parametrize("options", [
    {"allowed_mentions": {"parse": ["everyone"]}},  # @everyone is never pinged
    {"allowed_mentions": {"parse": ["users"], "users": ["1"]}},  # Discord refuses both
    {"embeds": [{"title": str(i)} for i in range(11)]},
    {"thread_id": "1", "thread_name": "incidents"},
    {"username": ""},
])
def test_options_discord_would_refuse_are_invalid_and_nothing_is_sent(discord, options):
    [outcome] = send_all([message(discord.webhook_url(), options=options)])
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_options", outcome
    assert discord.requests == 0


def test_an_empty_or_too_long_message_is_refused_before_a_request(discord):
    outcomes = send_all([message(discord.webhook_url(), "  \n "), message(discord.webhook_url(), "x" * 2001),
                         message(discord.webhook_url(), "x" * 2000)])
    assert [getattr(o, "error_class", None) for o in outcomes] == [
        "discord_empty_message", "discord_content_too_long", None]
    assert discord.requests == 1 and len(discord.posted[0]["body"]["content"]) == 2000


@pytest.mark.parametrize("body, code", [({"content": ""}, 50006), ({"content": "x" * 2001}, 50035),
                                        ({"embeds": [{}] * 11}, 50035)])
def test_the_fake_refuses_what_discord_refuses(discord, body, code):
    request = urllib.request.Request(f"{discord.webhook_url()}?wait=true", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and json.loads(refused.value.read())["code"] == code
    assert refused.value.headers["X-RateLimit-Bucket"] and discord.posted == []


@pytest.mark.parametrize("status, body, headers, expected", [
    (429, rate_limited(1.5)[0], rate_limited(1.5)[1], Transient("discord_rate_limited", "", 429, 1.5)),
    (429, "", {"Retry-After": "7"}, Transient("discord_rate_limited", "", 429, 7.0)),
    (429, "<html>error code: 1015</html>", {}, Transient("discord_rate_limited", "", 429, 60.0)),
    (400, discord_error(50006, "Cannot send an empty message"), {}, "discord_empty_message"),
    (400, discord_error(50035, "Invalid Form Body", {"embeds": {"0": {"url": {"_errors": [
        {"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}]}}}}), {}, "discord_invalid_form_body"),
    (400, discord_error(220001, "Webhooks posted to forum channels must have a thread_name or thread_id"), {},
     "discord_bad_request"),
    (401, discord_error(50027, "Invalid Webhook Token"), {}, "discord_unauthorized"),
    (403, discord_error(50013, "Missing Permissions"), {}, "discord_unauthorized"),
    (404, discord_error(10015, "Unknown Webhook"), {}, "discord_webhook_gone"),
    (404, discord_error(10003, "Unknown Channel"), {}, "discord_unknown_channel"),
    (413, discord_error(40005, "Request entity too large"), {}, "discord_payload_too_large"),
    (500, discord_error(0, "500: Internal Server Error"), {}, "discord_http_500"),
    (502, "<html>Bad Gateway</html>", {}, "discord_http_502"),
    (503, "upstream connect error", {"Retry-After": "3"}, "discord_http_503"),
])
def test_each_documented_answer_is_its_outcome(discord, status, body, headers, expected):
    discord.answer_next(status, body, headers)
    [outcome] = send_all([message(discord.webhook_url())])
    if isinstance(expected, Transient):
        assert (type(outcome), outcome.error_class, outcome.status_code, outcome.retry_after_s) == (
            Transient, expected.error_class, expected.status_code, expected.retry_after_s)
        return
    assert outcome.error_class == expected, outcome
    assert isinstance(outcome, Transient if expected.startswith("discord_http_5") else Permanent)
    assert outcome.status_code == status


def test_a_gone_webhooks_message_names_discords_reason_not_the_token(discord):
    discord.deleted.add(HOOK)
    outcomes = send_all([message(discord.webhook_url())])
    discord.answer_next(400, discord_error(50035, f"Invalid Form Body for {token_of(OTHER)}"))  # an echo
    outcomes += send_all([message(discord.webhook_url(OTHER))])
    assert outcomes[0] == Permanent("discord_webhook_gone", "Unknown Webhook (10015)", 404)
    assert token_of(OTHER) not in outcomes[1].message and "[redacted]" in outcomes[1].message


def test_no_outcome_quotes_the_webhook_token():
    gone = FakeDiscord()
    port = gone.base.rsplit(":", 1)[1]
    gone.close()  # nothing listens there now: the kit's connection error
    refused = f"http://127.0.0.1:{port}/api/webhooks/{HOOK}/{token_of(HOOK)}"
    bad_port = f"https://127.0.0.1:99999/api/webhooks/{HOOK}/{token_of(HOOK)}"
    off_host = f"https://discord.com.evil.example/api/webhooks/{HOOK}/{token_of(HOOK)}"
    other_path = f"http://127.0.0.1:{port}/api/webhooks/{HOOK}/{token_of(HOOK)}/slack"
    outcomes = send_all([message(url) for url in (refused, bad_port, off_host, other_path)])
    assert [type(o) for o in outcomes] == [Transient, Permanent, Permanent, Permanent]
    assert [o.error_class for o in outcomes[1:]] == ["invalid_address"] * 3
    assert all(token_of(HOOK) not in o.message for o in outcomes), outcomes


def test_only_discords_hosts_are_accepted_and_the_guard_still_applies(discord):
    hosts = Settings().section(DiscordSettings).discord_webhook_hosts
    assert hosts == "discord.com, discordapp.com, ptb.discord.com, canary.discord.com"
    [off_host] = send_all([message(discord.webhook_url(host="localhost"))])
    assert isinstance(off_host, Permanent) and off_host.error_class == "invalid_address"
    assert "discord_webhook_hosts" in off_host.message
    # An allowed host that is internal (loopback, not in the allowed targets) is refused.
    [guarded] = send_all([message(discord.webhook_url())], discord_allowed_targets=None)
    assert isinstance(guarded, Permanent) and guarded.error_class == "target_refused"
    assert discord.requests == 0


def test_a_spent_bucket_parks_later_posts_to_that_webhook_only():
    discord = FakeDiscord(limit=2, window_s=30.0)
    try:
        outcomes = send_all([message(discord.webhook_url()) for _ in range(3)] + [message(discord.webhook_url(OTHER))])
    finally:
        discord.close()
    assert [type(o) for o in outcomes] == [Delivered, Delivered, Deferred, Delivered]
    assert outcomes[2].reason == "discord_rate_limited" and 25 < outcomes[2].wait_s <= 30
    assert discord.requests == 3  # the parked one never reached Discord


def test_a_short_reset_is_waited_for_inside_the_worker(discord):
    discord.answer_next(200, {"id": "1"}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.500",
                                           "X-RateLimit-Bucket": "abc"})
    clock = Clock()
    outcomes = send_all([message(discord.webhook_url()), message(discord.webhook_url())], clock)
    assert outcomes == [Delivered(200, "1"), Delivered(200, discord.posted[0]["id"])]
    assert clock.slept == [1.5]


def test_a_429_holds_its_webhook_and_a_global_one_holds_them_all(discord):
    body, headers = rate_limited(2.25)
    discord.answer_next(429, body, headers)
    body, headers = rate_limited(40.0, is_global=True)
    discord.answer_next(429, body, headers)
    clock = Clock()
    outcomes = send_all([message(discord.webhook_url()), message(discord.webhook_url()),
                         message(discord.webhook_url(OTHER))], clock)
    assert isinstance(outcomes[0], Transient) and outcomes[0].retry_after_s == 2.25
    assert clock.slept == [2.25]  # the next post to that webhook waited out the 429
    assert isinstance(outcomes[1], Transient) and outcomes[1].retry_after_s == 40.0
    assert isinstance(outcomes[2], Deferred) and outcomes[2].reason == "discord_rate_limited"
    assert discord.requests == 2 and discord.posted == []


def test_posts_to_one_webhook_are_paced_and_a_long_queue_waits_on_a_retry_tier(discord):
    clock = Clock()

    async def run():
        provider = DiscordProvider(Settings(**LOOPBACK, discord_per_webhook_per_s=2.5, discord_max_pacing_wait_s=1.0),
                                   clock=clock, sleep=clock.sleep)
        await provider.start()
        try:
            first = [await provider.send(message(discord.webhook_url())) for _ in range(3)]
            other = await provider.send(message(discord.webhook_url(OTHER)))  # not held up by the first
            for _ in range(3):
                provider.pacer.reserve(HOOK)
            parked = await provider.send(message(discord.webhook_url()))
            return first, other, parked
        finally:
            await provider.close()

    first, other, parked = asyncio.run(run())
    assert all(isinstance(o, Delivered) for o in [*first, other])
    assert clock.slept == [0.4, 0.4]  # 2.5 a second on one webhook
    assert isinstance(parked, Deferred) and parked.reason == "discord_paced" and discord.requests == 4


def ssrf_message(url: str) -> dict:
    """The matrix's destination with a webhook's path, so that only the SSRF guard can refuse it."""
    scheme, _, authority, *_ = url.split("/", 3)
    return message(f"{scheme}//{authority}/api/webhooks/{HOOK}/{token_of(HOOK)}")


def discord_provider(allowed: str | None, url: str) -> DiscordProvider:
    """Every host accepted as a Discord host, so that only the SSRF guard stands in the way."""
    settings = Settings(discord_webhook_hosts="*", discord_allowed_targets=allowed, discord_timeout_s=5.0,
                        discord_per_webhook_per_s=0)
    return DiscordProvider(settings, resolver=ssrf.FakeDns(ssrf.DNS))


# The SSRF matrix, a redirect to an internal address, and the control case (tests/channels/test_outbound_ssrf.py).
(test_the_ssrf_matrix_reaches_no_internal_address, test_a_redirect_to_an_internal_address_is_not_followed,
 test_control_an_allowed_internal_target_does_reach_the_canary) = ssrf.cases_for("discord", discord_provider, ssrf_message, secret=token_of(HOOK))
