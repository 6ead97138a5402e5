"""The webhook provider against real aiohttp receivers on loopback: methods, headers, credentials,
idempotency, refused requests, timeouts, capped reads, redirects, Retry-After and the bulkhead."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from aiohttp import web

from channels.webhook.provider import WebhookProvider, retry_after_seconds
from channels.webhook.bulkhead import EndpointBulkhead, endpoint_of
from consumer.health import start_app
from consumer.outcomes import Deferred, Delivered, Permanent, Transient
from consumer.settings import Settings, SettingsError


def message(address: str, *, options: dict | None = None, delivery_id: str | None = None,
            data: dict | None = None) -> dict:
    return {
        "delivery_id": delivery_id or str(uuid.uuid4()), "notification_id": str(uuid.uuid4()),
        "channel": "webhook", "priority": "NORMAL", "created_at": datetime(2024, 5, 1, tzinfo=timezone.utc),
        "source": "tests", "tenant": "default", "category": "general", "recipient_id": "user-1",
        "address": address, "subject": "hello", "text": "hi", "html": None, "template": None,
        "data": json.dumps(data if data is not None else {"order": 42}), "expires_at": None,
        "attempt": 1, "replay": 0, "options": json.dumps(options or {}),
    }


class Receiver:
    """Records every request (method, path, headers, raw body); answers with `answer`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answer = lambda request: web.json_response({"ok": True})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"method": request.method, "path": request.path,
                              "headers": dict(request.headers), "body": await request.read()})
        answer = self.answer(request)
        return await answer if asyncio.iscoroutine(answer) else answer


@contextlib.asynccontextmanager
async def serving(receiver: Receiver):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner, port = await start_app(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def provider(**changes):
    settings = Settings(**{"webhook_timeout_s": 5.0, "webhook_allowed_targets": "127.0.0.1", **changes})
    instance = WebhookProvider(settings)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


def run(coro):
    return asyncio.run(coro)


# -- methods, headers, credentials, idempotency --------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_each_method_with_a_body_only_where_it_belongs(method):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            outcome = await p.send(message(f"{base}/hook", options={"method": method.lower()}))
        return outcome, receiver.requests

    outcome, requests = run(scenario())
    assert outcome == Delivered(status_code=200)
    assert [r["method"] for r in requests] == [method]
    if method in ("GET", "DELETE"):
        assert requests[0]["body"] == b""
    else:
        assert json.loads(requests[0]["body"])["data"] == {"order": 42}


def test_plain_post_keeps_the_full_payload_and_json_content_type():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            m = message(f"{base}/hook")
            return m, await p.send(m), receiver.requests[0]

    m, outcome, request = run(scenario())
    assert outcome == Delivered(status_code=200)
    body = json.loads(request["body"])
    assert body["id"] == m["delivery_id"] and body["subject"] == "hello" and body["priority"] == "normal"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["webhook-id"] == m["delivery_id"]
    assert "webhook-signature" not in request["headers"]  # no secrets configured


def test_custom_headers_and_the_data_only_body():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            await p.send(message(f"{base}/hook", data={"a": [1, 2]},
                                 options={"headers": {"X-Tenant": "acme", "X-Num": 7}, "body": "data"}))
        return receiver.requests[0]

    request = run(scenario())
    assert request["headers"]["X-Tenant"] == "acme" and request["headers"]["X-Num"] == "7"
    assert json.loads(request["body"]) == {"a": [1, 2]}


CREDENTIALS = json.dumps({"ops": {"type": "bearer", "token": "t0ken", "hosts": ["127.0.0.1"]},
                          "legacy": {"type": "basic", "username": "u", "password": "p:w",
                                     "hosts": ["partner.example", "127.0.0.1"]},
                          "partner": {"type": "bearer", "token": "partner-t0ken", "hosts": ["*.partner.example"]}})


@pytest.mark.parametrize("name, expected", [
    ("ops", "Bearer t0ken"), ("legacy", "Basic " + base64.b64encode(b"u:p:w").decode())])
def test_credentials_come_from_settings_by_name(name, expected):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_credentials=CREDENTIALS) as p:
            outcome = await p.send(message(f"{base}/hook", options={"credential": name}))
        return outcome, receiver.requests

    outcome, requests = run(scenario())
    assert outcome == Delivered(status_code=200)
    assert requests[0]["headers"]["Authorization"] == expected


def test_a_credential_goes_only_to_its_hosts_and_nothing_is_sent_elsewhere():
    """The event chooses the URL: naming `partner` (for *.partner.example) with a URL on another
    host must not hand the partner's token to that host."""
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_credentials=CREDENTIALS) as p:
            outcome = await p.send(message(f"{base}/hook", options={"credential": "partner"}))
        return outcome, receiver.requests

    outcome, requests = run(scenario())
    assert isinstance(outcome, Permanent) and outcome.error_class == "credential_not_allowed"
    assert "partner-t0ken" not in outcome.message and requests == []


def test_credential_hosts_match_exactly_or_by_subdomain_wildcard():
    from channels.webhook.request import parse_credentials

    credentials = parse_credentials(CREDENTIALS)
    partner, legacy = credentials["partner"], credentials["legacy"]
    assert partner.allows("hooks.partner.example") and partner.allows("A.B.Partner.Example.")
    assert not partner.allows("partner.example") and not partner.allows("evilpartner.example")
    assert not partner.allows("partner.example.evil.com")
    assert legacy.allows("partner.example") and not legacy.allows("www.partner.example")
    assert "t0ken" not in repr(credentials)


@pytest.mark.parametrize("credential", [
    {"type": "bearer", "token": "s3cret-token"},  # written before credentials were bound to hosts
    {"type": "bearer", "token": "s3cret-token", "hosts": []},
    {"type": "bearer", "token": "s3cret-token", "hosts": "api.example.com"},
    {"type": "bearer", "token": "s3cret-token", "hosts": ["https://api.example.com/"]},
])
def test_a_credential_without_a_hosts_list_stops_the_worker_at_start(credential):
    with pytest.raises(SettingsError, match="needs \"hosts\"") as raised:
        WebhookProvider(Settings(webhook_credentials=json.dumps({"ops": credential})))
    assert "s3cret" not in str(raised.value)


def test_credentials_are_not_in_the_settings_repr():
    settings = Settings(webhook_credentials=CREDENTIALS, webhook_signing_secrets="whsec_c2VjcmV0")
    assert "t0ken" not in repr(settings) and "whsec" not in repr(settings)


@pytest.mark.parametrize("options, error_class", [
    ({"headers": {"X-Evil": "a\r\nX-Injected: 1"}}, "header_injection"),
    ({"headers": {"X-Evil\n": "a"}}, "header_injection"),
    ({"headers": {"X-Nul": "a\x00b"}}, "header_injection"),
    ({"headers": {"X-Vt": "a\x0bb"}}, "header_injection"),  # stopped the worker (issue 14)
    ({"headers": {"X-Ff": "a\x0cb"}}, "header_injection"),
    ({"headers": {"X-Tab": "a\tb"}}, "header_injection"),
    ({"headers": {"X-Del": "a\x7fb"}}, "header_injection"),
    ({"headers": {"X-Evil ": "a"}}, "invalid_options"),  # a space before the colon
    ({"headers": {"X Evil": "a"}}, "invalid_options"),
    ({"headers": {"X-Evil:": "a"}}, "invalid_options"),
    ({"headers": {"X-(Evil)": "a"}}, "invalid_options"),
    ({"headers": {"X-Ünïcode": "a"}}, "invalid_options"),
    ({"headers": {"": "a"}}, "invalid_options"),
    ({"headers": {"Authorization": "Bearer stolen"}}, "header_not_allowed"),
    ({"headers": {"Authorization ": "Bearer stolen"}}, "header_not_allowed"),  # reserved once trimmed
    ({"headers": {" Host": "internal"}}, "header_not_allowed"),
    ({"credential": "nobody"}, "unknown_credential"),
    ({"signing_secret": "whsec_c2VjcmV0"}, "secret_in_event"),
    ({"auth": {"type": "bearer", "token": "x"}}, "secret_in_event"),
    ({"method": "TRACE"}, "invalid_method"),
])
def test_refused_requests_never_reach_the_receiver(options, error_class):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            outcome = await p.send(message(f"{base}/hook", options=options))
        return outcome, receiver.requests

    outcome, requests = run(scenario())
    assert isinstance(outcome, Permanent) and outcome.error_class == error_class
    assert requests == []


BAD_URLS = {
    "port 99999": "http://127.0.0.1:99999/hook",
    "port 0": "http://127.0.0.1:0/hook",
    "70-character label": "http://" + "a" * 70 + ".example.com/hook",
    "empty label": "http://a..example.com/hook",
    "broken IPv6 literal": "http://[::1/hook",
    "no host": "http:///hook",
    "space in host": "http://exa mple.com/hook",
    "NUL in host": "http://exa\x00mple.com/hook",
    "percent in host": "http://%31%32%37.0.0.1/hook",
    "not http": "ftp://example.com/hook",
}


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_url_that_cannot_be_parsed_is_a_permanent_invalid_url_never_an_exception(url):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver), provider(webhook_allowed_targets="127.0.0.1, example.com") as p:
            return await p.send(message(url)), receiver.requests

    outcome, requests = run(scenario())
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_url", outcome
    assert "\x00" not in outcome.message and requests == []


@pytest.mark.parametrize("body", ["payload", "data"])
@pytest.mark.parametrize("data", ["{not json", "\x00", "NaN]"])
def test_data_that_is_not_json_is_a_permanent_invalid_data_never_an_exception(body, data):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            return await p.send({**message(f"{base}/hook", options={"body": body}), "data": data}), receiver.requests

    outcome, requests = run(scenario())
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_data", outcome
    assert requests == []


def test_idempotency_key_is_the_delivery_id_on_every_attempt():
    async def scenario():
        receiver = Receiver()
        delivery_id = str(uuid.uuid4())
        async with serving(receiver) as base, provider() as p:
            first = message(f"{base}/hook", delivery_id=delivery_id)
            retry = {**first, "attempt": 2}
            await p.send(first)
            await p.send(retry)
        return delivery_id, receiver.requests

    delivery_id, requests = run(scenario())
    assert [r["headers"]["Idempotency-Key"] for r in requests] == [delivery_id, delivery_id]
    assert [r["headers"]["webhook-id"] for r in requests] == [delivery_id, delivery_id]


def test_a_body_over_the_cap_is_permanent_and_not_sent():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_max_body_bytes=1000) as p:
            outcome = await p.send(message(f"{base}/hook", data={"blob": "x" * 2000}))
        return outcome, receiver.requests

    outcome, requests = run(scenario())
    assert isinstance(outcome, Permanent) and outcome.error_class == "body_too_large"
    assert requests == []


# -- limits: timeouts, capped reads, redirects, statuses -----------------------------------------

def test_a_trickling_receiver_fails_within_the_total_timeout():
    async def trickle(request):
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        for _ in range(30):
            await response.write(b"x")
            await asyncio.sleep(1)
        return response

    async def scenario():
        receiver = Receiver()
        receiver.answer = trickle
        async with serving(receiver) as base, provider(webhook_timeout_s=2.0) as p:
            started = time.monotonic()
            outcome = await p.send(message(f"{base}/hook"))
            return outcome, time.monotonic() - started

    outcome, elapsed = run(scenario())
    assert isinstance(outcome, Transient) and outcome.error_class == "timeout"
    assert elapsed < 2.0 + 1.0


def test_a_huge_response_is_read_only_up_to_the_cap():
    written = {"bytes": 0, "closed": False}
    chunk = b"y" * 65536

    async def huge(request):
        response = web.StreamResponse(status=500)
        response.content_length = 50 * 1024 * 1024
        await response.prepare(request)
        try:
            for _ in range(50 * 16):
                await response.write(chunk)
                written["bytes"] += len(chunk)
        except (ConnectionError, RuntimeError):
            written["closed"] = True
        return response

    async def scenario():
        receiver = Receiver()
        receiver.answer = huge
        async with serving(receiver) as base, provider() as p:
            started = time.monotonic()
            outcome = await p.send(message(f"{base}/hook"))
            elapsed = time.monotonic() - started
            for _ in range(100):  # let the server notice the closed connection
                if written["closed"]:
                    break
                await asyncio.sleep(0.05)
            return outcome, elapsed

    outcome, elapsed = run(scenario())
    assert isinstance(outcome, Transient) and outcome.status_code == 500
    assert len(outcome.message) <= 2048
    assert elapsed < 2.0
    assert written["closed"] and written["bytes"] < 50 * 1024 * 1024


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_refused_not_followed(status):
    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: (
            web.Response(status=status, headers={"Location": "/elsewhere"}) if request.path == "/hook"
            else web.json_response({"ok": True}))
        async with serving(receiver) as base, provider() as p:
            outcome = await p.send(message(f"{base}/hook"))
        return outcome, receiver.requests

    outcome, requests = run(scenario())
    assert outcome.error_class == "redirect_refused" and isinstance(outcome, Permanent)
    assert outcome.status_code == status
    assert [r["path"] for r in requests] == ["/hook"]


@pytest.mark.parametrize("status, kind, error_class", [
    (201, Delivered, None), (204, Delivered, None),
    (410, Permanent, "endpoint_gone"), (404, Permanent, "http_404"), (400, Permanent, "http_400"),
    (408, Transient, "http_408"), (425, Transient, "http_425"), (429, Transient, "http_429"),
    (500, Transient, "http_500"), (503, Transient, "http_503"),
])
def test_status_classification(status, kind, error_class):
    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: web.Response(status=status)
        async with serving(receiver) as base, provider() as p:
            return await p.send(message(f"{base}/hook"))

    outcome = run(scenario())
    assert isinstance(outcome, kind) and outcome.status_code == status
    if error_class:
        assert outcome.error_class == error_class


def test_retry_after_seconds_and_http_date_are_honoured():
    now = 1_700_000_000.0
    later = format_datetime(datetime.fromtimestamp(now + 120, timezone.utc), usegmt=True)
    earlier = format_datetime(datetime.fromtimestamp(now - 120, timezone.utc), usegmt=True)
    assert retry_after_seconds("30", now) == 30.0
    assert retry_after_seconds(later, now) == pytest.approx(120.0)
    assert retry_after_seconds(earlier, now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None

    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: web.Response(status=429, headers={"Retry-After": "7"})
        async with serving(receiver) as base, provider() as p:
            return await p.send(message(f"{base}/hook"))

    outcome = run(scenario())
    assert isinstance(outcome, Transient) and outcome.retry_after_s == 7.0


# -- bulkhead and circuit breaker ----------------------------------------------------------------

def test_endpoint_key_is_scheme_host_and_port():
    assert endpoint_of("https://Example.com/a?b") == "https://example.com:443"
    assert endpoint_of("http://example.com:8080/x") == "http://example.com:8080"


def test_a_hanging_endpoint_does_not_hold_up_another():
    async def scenario():
        release = asyncio.Event()
        finished: list[str] = []

        async def hang(request):
            await release.wait()
            return web.json_response({"ok": True})

        slow, fast = Receiver(), Receiver()
        slow.answer = hang
        async with serving(slow) as slow_base, serving(fast) as fast_base, \
                provider(webhook_per_endpoint_concurrency=2, webhook_concurrency=100) as p:
            async def send(name, base):
                await p.send(message(f"{base}/hook"))
                finished.append(name)

            hung = [asyncio.create_task(send("slow", slow_base)) for _ in range(5)]
            while len(slow.requests) < 2:
                await asyncio.sleep(0.01)
            await send("fast", fast_base)
            release.set()
            await asyncio.gather(*hung)
        return finished, len(slow.requests)

    finished, slow_requests = run(scenario())
    assert finished[0] == "fast" and finished.count("slow") == 5
    assert slow_requests == 5


def test_a_full_endpoint_defers_after_the_wait():
    async def scenario():
        bulkhead = EndpointBulkhead(concurrency=1, wait_s=0.05)
        gate = asyncio.Event()

        async def attempt():
            await gate.wait()
            return Delivered(200)

        first = asyncio.create_task(bulkhead.run("http://a.test/x", attempt))
        await asyncio.sleep(0)
        second = await bulkhead.run("http://a.test/y", attempt)
        gate.set()
        return await first, second

    first, second = run(scenario())
    assert first == Delivered(200) and isinstance(second, Deferred)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_circuit_opens_after_n_failures_and_a_probe_closes_it():
    async def scenario():
        clock = Clock()
        bulkhead = EndpointBulkhead(failures=3, cooldown_s=30.0, clock=clock)
        calls = []

        def attempt(outcome):
            async def go():
                calls.append(outcome)
                return outcome
            return go

        failing = Transient("http_503", status_code=503)
        for _ in range(3):
            assert await bulkhead.run("http://b.test/", attempt(failing)) == failing
        refused = await bulkhead.run("http://b.test/", attempt(Delivered(200)))
        assert refused.error_class == "circuit_open" and refused.retry_after_s == 30.0
        assert len(calls) == 3  # no request while open
        other = await bulkhead.run("http://c.test/", attempt(Delivered(200)))
        assert other == Delivered(200)  # another endpoint is unaffected
        clock.now += 10
        assert (await bulkhead.run("http://b.test/", attempt(Delivered(200)))).retry_after_s == 20.0
        clock.now += 21
        assert bulkhead.state("http://b.test:80") == "half_open"
        assert await bulkhead.run("http://b.test/", attempt(failing)) == failing  # the probe fails
        assert bulkhead.state("http://b.test:80") == "open"
        clock.now += 31
        assert await bulkhead.run("http://b.test/", attempt(Delivered(200))) == Delivered(200)
        assert bulkhead.state("http://b.test:80") == "closed"

    run(scenario())


def test_a_probe_that_never_answers_hands_the_half_open_turn_to_the_next_send():
    """A probe cancelled (a rebalance, a stop) or raising says nothing about the endpoint: the next
    send probes instead of being refused for ever."""
    async def scenario():
        clock = Clock()
        bulkhead = EndpointBulkhead(failures=1, cooldown_s=30.0, clock=clock)

        async def answer(outcome):
            return outcome

        await bulkhead.run("http://b.test/", lambda: answer(Transient("http_503", status_code=503)))
        clock.now += 31
        hanging = asyncio.create_task(bulkhead.run("http://b.test/", asyncio.Event().wait))
        await asyncio.sleep(0)
        refused = await bulkhead.run("http://b.test/", lambda: answer(Delivered(200)))
        assert refused.error_class == "circuit_open" and "probe is in flight" in refused.message
        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging

        async def defect():
            raise RuntimeError("a bug around the request")

        with pytest.raises(RuntimeError):
            await bulkhead.run("http://b.test/", defect)
        assert await bulkhead.run("http://b.test/", lambda: answer(Delivered(200))) == Delivered(200)
        assert bulkhead.state("http://b.test:80") == "closed"

    run(scenario())


def test_circuit_through_the_provider_with_a_real_failing_receiver():
    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: web.Response(status=502)
        async with serving(receiver) as base, provider(webhook_circuit_failures=2) as p:
            outcomes = [await p.send(message(f"{base}/hook")) for _ in range(4)]
        return outcomes, receiver.requests

    outcomes, requests = run(scenario())
    assert [o.error_class for o in outcomes] == ["http_502", "http_502", "circuit_open", "circuit_open"]
    assert len(requests) == 2


def test_429_does_not_open_the_circuit():
    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: web.Response(status=429)
        async with serving(receiver) as base, provider(webhook_circuit_failures=2) as p:
            return [await p.send(message(f"{base}/hook")) for _ in range(3)]

    assert [o.error_class for o in run(scenario())] == ["http_429"] * 3
