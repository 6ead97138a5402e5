"""The SMS channel: E.164 numbers, GSM-7/UCS-2 segments and the 1,600 cap, cost, Twilio through the
real `twilio` client against a fake Twilio, the custom HTTP provider, failover and the circuit breaker."""
from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import pytest
from aiohttp import web

from channels.registry import provider_for
from channels.sms.provider import SmsProvider
from channels.sms.http_provider import HttpSms, dig, render_body, success_matcher
from channels.sms.numbers import to_e164
from channels.sms.segments import check_length, count_segments, estimate_cost, parse_prices
from channels.sms.twilio_provider import TwilioSms
from consumer.health import start_app
from consumer.outcomes import Delivered, Permanent, Suppressed, Transient
from consumer.settings import Settings, SettingsError
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: F401
from channels.sms.settings import SmsSettings

TO = "+14155552671"
# The fakes listen on loopback, which the SSRF guard refuses unless the operator lists it.
LOOPBACK = "127.0.0.0/8"


def message(address: str = TO, text: str | None = "Your code is 123456", **extra) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "sms",
            "priority": "NORMAL", "address": address, "subject": None, "text": text, "options": "{}", **extra}


def twilio_settings(fake: FakeTwilio, **changes) -> Settings:
    values = dict(sms_twilio_account_sid=ACCOUNT_SID, sms_twilio_auth_token=AUTH_TOKEN,
                  sms_twilio_from="+15005550006", sms_twilio_base_url=fake.base_url, sms_timeout_s=5.0,
                  sms_allowed_targets=LOOPBACK)
    return Settings(**{**values, **changes})


async def send_with(provider, *msgs: dict):
    """The outcome of sending `msgs` in turn (one outcome for one message, else a tuple)."""
    await provider.start()
    try:
        outcomes = tuple([await provider.send(m) for m in msgs])
        return outcomes[0] if len(outcomes) == 1 else outcomes
    finally:
        await provider.close()


# --- numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, region, expected", [
    ("+1 415 555 2671", "US", "+14155552671"),
    ("(415) 555-2671", "US", "+14155552671"),
    ("415.555.2671", "US", "+14155552671"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("030 123456", "DE", "+4930123456"),
])
def test_numbers_are_normalised_to_e164(raw, region, expected):
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "12", "not a number", "+1 555 0000", "+999 1234567"])
def test_invalid_numbers_are_permanent(raw):
    outcome = to_e164(raw, "US")
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_phone_number"


@pytest.mark.parametrize("raw, kind", [
    ("+1 900 555 1234", "premium_rate"),  # NANP 900: premium rate
    ("+44 871 234 5678", "premium_rate"),  # UK 087x: premium rate
    ("+881 6 1234 5678", "non_geographic"),  # Iridium satellite (phonenumbers says "mobile")
    ("+870 772 001 799", "non_geographic"),  # Inmarsat satellite
    ("+1 800 234 5678", "toll_free"),
])
def test_premium_rate_satellite_and_toll_free_numbers_are_refused_by_default(raw, kind):
    outcome = to_e164(raw, "US")
    assert isinstance(outcome, Permanent) and outcome.error_class == "number_type_refused", outcome
    assert f"number type {kind} is not allowed" in outcome.message


@pytest.mark.parametrize("raw, region, expected", [
    ("+44 7911 123456", "US", "+447911123456"),  # UK mobile
    ("+33 6 12 34 56 78", "US", "+33612345678"),  # French mobile
    ("0151 23456789", "DE", "+4915123456789"),  # German mobile, national format
    ("(415) 555-2671", "US", "+14155552671"),  # NANP: fixed-line-or-mobile
    ("+44 20 7946 0958", "US", "+442079460958"),  # UK fixed line
])
def test_mobile_and_fixed_line_numbers_are_allowed_by_default(raw, region, expected):
    assert to_e164(raw, region) == expected


def test_the_allowed_number_types_are_configurable_and_checked_at_start(fake_twilio):
    provider = SmsProvider(twilio_settings(fake_twilio, sms_allowed_number_types="mobile, toll_free"))
    toll_free, landline, premium = asyncio.run(send_with(provider, message("+18002345678"), message("+442079460958"),
                                                         message("+19005551234")))
    assert isinstance(toll_free, Delivered)
    assert (landline.error_class, premium.error_class) == ("number_type_refused", "number_type_refused")
    assert [m["To"] for m in fake_twilio.messages] == ["+18002345678"]  # nothing else reached Twilio
    with pytest.raises(SettingsError, match="known: .*premium_rate"):
        SmsProvider(twilio_settings(fake_twilio, sms_allowed_number_types="mobile,expensive"))


def test_refused_number_types_reach_no_provider(fake_twilio):
    outcomes = asyncio.run(send_with(SmsProvider(twilio_settings(fake_twilio)), message("+19005551234"),
                                     message("+881612345678"), message("+447911123456")))
    assert [getattr(o, "error_class", "delivered") for o in outcomes] == [
        "number_type_refused", "number_type_refused", "delivered"]
    assert [m["To"] for m in fake_twilio.messages] == ["+447911123456"]


# --- segments and cost ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, encoding, segments", [
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("é" * 160, "GSM-7", 1),  # in the GSM basic table
    ("€" * 80, "GSM-7", 1),  # extension chars count 2: 160 septets
    ("€" * 80 + "a", "GSM-7", 2),
    ("a" * 159 + "[", "GSM-7", 2),  # 161 septets
    ("a" * 152 + "{" + "a" * 10, "GSM-7", 2),  # escape pair does not straddle: seg 1 holds 152
    ("ж" * 70, "UCS-2", 1),
    ("ж" * 71, "UCS-2", 2),
    ("ж" * 134, "UCS-2", 2),
    ("ж" * 135, "UCS-2", 3),
    ("a" * 69 + "ж", "UCS-2", 1),  # one non-GSM char makes the whole text UCS-2
    ("a" * 70 + "ж", "UCS-2", 2),
    ("😀" * 35, "UCS-2", 1),  # surrogate pairs: 70 code units
    ("😀" * 35 + "a", "UCS-2", 2),
])
def test_segment_counts_at_the_boundaries(text, encoding, segments):
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


def test_gsm_extension_chars_count_two_septets():
    assert count_segments("{}[]~|^\\€\f").units == 20
    assert count_segments("@£$¥").units == 4


def test_length_cap_is_1600_characters():
    assert check_length("a" * 1600).segments == 11
    too_long = check_length("a" * 1601)
    assert isinstance(too_long, Permanent) and too_long.error_class == "message_too_long"
    assert check_length("").error_class == "empty_message"


def test_price_table_and_cost():
    prices = parse_prices("twilio=0.0079, http=0.005")
    assert prices == {"twilio": Decimal("0.0079"), "http": Decimal("0.005")}
    assert estimate_cost(3, prices["twilio"]) == Decimal("0.0237")
    assert estimate_cost(3, None) is None
    with pytest.raises(ValueError):
        parse_prices("twilio")
    with pytest.raises(SettingsError):
        SmsProvider(Settings(sms_prices="twilio=abc"), providers=[])


# --- Twilio through the real client -----------------------------------------------------------------

def test_twilio_send_through_the_real_client(fake_twilio):
    settings = twilio_settings(fake_twilio, sms_twilio_status_callback="https://example.test/sms/status")
    outcome = asyncio.run(send_with(SmsProvider(settings), message("(415) 555-2671", "a" * 161)))
    assert isinstance(outcome, Delivered)
    sent = fake_twilio.messages[0]
    assert outcome.provider_message_id == sent["sid"] and sent["sid"].startswith("SM")
    assert sent["To"] == TO and sent["From"] == "+15005550006" and sent["Body"] == "a" * 161
    assert sent["StatusCallback"] == "https://example.test/sms/status"
    assert "MessagingServiceSid" not in sent
    assert outcome.cost == Decimal("0.0158") and outcome.cost_currency == "USD"
    assert json.loads(outcome.detail) == {"provider": "twilio", "segments": 2, "encoding": "GSM-7"}


def test_twilio_messaging_service_sid(fake_twilio):
    settings = twilio_settings(fake_twilio, sms_twilio_from=None, sms_twilio_messaging_service_sid="MG" + "1" * 32)
    outcome = asyncio.run(send_with(TwilioSms(settings), message()))
    assert isinstance(outcome, Delivered)
    assert fake_twilio.messages[0]["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in fake_twilio.messages[0]


def test_twilio_wrong_token_is_refused_and_never_shown(fake_twilio):
    settings = twilio_settings(fake_twilio, sms_twilio_auth_token="wrong-token")
    outcome = asyncio.run(send_with(TwilioSms(settings), message()))
    assert isinstance(outcome, Permanent) and outcome.error_class == "twilio_20003"
    assert "wrong-token" not in repr(settings) and "wrong-token" not in repr(outcome)


def test_twilio_invalid_to_from_the_server_is_permanent(fake_twilio):
    # Bypass our own validation: the fake answers 21211 for a non-E.164 To, like Twilio.
    outcome = asyncio.run(send_with(TwilioSms(twilio_settings(fake_twilio)), message("12345")))
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_phone_number"
    assert outcome.status_code == 400


@pytest.mark.parametrize("code, status, kind, error_class", [
    (21211, 400, Permanent, "invalid_phone_number"),
    (21612, 400, Permanent, "unreachable_number"),
    (21614, 400, Permanent, "not_mobile_number"),
    (21610, 400, Permanent, "opted_out"),
    (20429, 429, Transient, "rate_limited"),
    (20500, 500, Transient, "http_500"),
    (20503, 503, Transient, "http_503"),
    (21408, 400, Permanent, "twilio_21408"),
])
def test_twilio_error_codes(fake_twilio, code, status, kind, error_class):
    fake_twilio.error_next(code, "scripted", status)
    outcome = asyncio.run(send_with(TwilioSms(twilio_settings(fake_twilio)), message()))
    assert type(outcome) is kind and outcome.error_class == error_class
    assert outcome.status_code == status and str(code) in outcome.message


def test_twilio_plain_429_and_html_502_are_transient(fake_twilio):
    fake_twilio.answer_next(429, "Too Many Requests")
    fake_twilio.answer_next(502, "<html>Bad Gateway</html>")
    provider = TwilioSms(twilio_settings(fake_twilio))

    first, second = asyncio.run(send_with(provider, message(), message()))
    assert isinstance(first, Transient) and first.error_class == "http_429"
    assert isinstance(second, Transient) and second.error_class == "http_502"


def test_twilio_retry_after_is_honoured_per_request(fake_twilio):
    """Retry-After read from the 429 answer although TwilioRestException has no headers; an
    answer without it (the next one, in the same task) does not inherit the old value."""
    fake_twilio.error_next(20429, "Too Many Requests", 429, headers={"Retry-After": "7"})
    fake_twilio.error_next(20429, "Too Many Requests", 429)
    provider = TwilioSms(twilio_settings(fake_twilio))

    first, second = asyncio.run(send_with(provider, message(), message()))
    assert first.error_class == "rate_limited" and first.retry_after_s == 7
    assert second.error_class == "rate_limited" and second.retry_after_s is None


def test_twilio_unreachable_server_is_transient():
    settings = Settings(sms_twilio_account_sid=ACCOUNT_SID, sms_twilio_auth_token=AUTH_TOKEN,
                        sms_twilio_from="+15005550006", sms_twilio_base_url="http://127.0.0.1:9",
                        sms_allowed_targets=LOOPBACK)
    outcome = asyncio.run(send_with(TwilioSms(settings), message()))
    assert isinstance(outcome, Transient)


def test_twilio_needs_credentials_and_a_sender():
    with pytest.raises(SettingsError):
        TwilioSms(Settings())
    with pytest.raises(SettingsError):
        TwilioSms(Settings(sms_twilio_account_sid=ACCOUNT_SID, sms_twilio_auth_token=AUTH_TOKEN))


# --- the custom HTTP provider -------------------------------------------------------------------------

class Gateway:
    """A local SMS gateway: records requests, answers from a script or 200 {"data": {"messages": [{"id"}]}}."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"method": request.method, "headers": dict(request.headers),
                              "body": await request.text()})
        if self.script:
            status, text = self.script.pop(0)
            return web.Response(status=status, text=text)
        return web.json_response({"data": {"messages": [{"id": f"gw-{len(self.requests)}"}]}}, status=202)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_route("*", "/send", self.handle)
        self.runner, port = await start_app(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}/send"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


def http_settings(url: str, **changes) -> Settings:
    values = dict(sms_providers="http", sms_http_url=url, sms_http_headers='{"Authorization": "Bearer gw-secret"}',
                  sms_http_message_id_field="data.messages.0.id", sms_http_method="PUT", sms_allowed_targets=LOOPBACK)
    return Settings(**{**values, **changes})


def test_http_provider_renders_the_template_and_reads_the_id():
    async def run():
        async with Gateway() as gateway:
            msg = message(text='Say "hi"\nto ünïcode ж')
            outcome = await send_with(provider_for("sms", http_settings(gateway.url)), msg)
            return gateway, msg, outcome

    gateway, msg, outcome = asyncio.run(run())
    request = gateway.requests[0]
    assert request["method"] == "PUT" and request["headers"]["Authorization"] == "Bearer gw-secret"
    assert json.loads(request["body"]) == {"to": TO, "text": 'Say "hi"\nto ünïcode ж', "id": msg["delivery_id"]}
    assert isinstance(outcome, Delivered) and outcome.provider_message_id == "gw-1" and outcome.status_code == 202
    assert outcome.cost == Decimal("0.005") and json.loads(outcome.detail)["provider"] == "http"
    assert "gw-secret" not in repr(http_settings(gateway.url))


@pytest.mark.parametrize("status, success, kind", [
    (500, "2xx", Transient), (429, "2xx", Transient), (400, "2xx", Permanent), (202, "200", Permanent),
    (200, "200,201", Delivered),
])
def test_http_provider_statuses(status, success, kind):
    async def run():
        async with Gateway() as gateway:
            gateway.script.append((status, "{}"))
            return await send_with(HttpSms(http_settings(gateway.url, sms_http_success_status=success)), message())

    assert type(asyncio.run(run())) is kind


def test_http_template_helpers():
    assert render_body('{"t": "{text}"}', {"text": 'a"b\\c'}) == '{"t": "a\\"b\\\\c"}'
    assert success_matcher("2xx,301")(204) and success_matcher("2xx,301")(301)
    assert not success_matcher("200")(201)
    assert dig({"a": [{"b": 7}]}, "a.0.b") == 7 and dig({"a": 1}, "a.b") is None
    with pytest.raises(SettingsError):
        success_matcher("ok")


# --- failover and the circuit breaker -----------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_failover_to_the_second_provider_and_circuit_opening(fake_twilio):
    clock = Clock()

    async def run():
        async with Gateway() as gateway:
            settings = twilio_settings(fake_twilio, sms_providers="twilio,http", sms_http_url=gateway.url,
                                       sms_http_message_id_field="data.messages.0.id",
                                       sms_circuit_failures=3, sms_circuit_cooldown_s=60)
            sms = SmsProvider(settings, clock=clock)
            await sms.start()
            try:
                fake_twilio.answer_next(500, times=3)
                outcomes = [await sms.send(message()) for _ in range(4)]
                requests_while_open = fake_twilio.requests
                clock.now = 61  # cool-down over: Twilio gets a trial and succeeds
                outcomes.append(await sms.send(message()))
                return outcomes, requests_while_open, len(gateway.requests)
            finally:
                await sms.close()

    outcomes, requests_while_open, gateway_requests = asyncio.run(run())
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert [json.loads(o.detail)["provider"] for o in outcomes] == ["http", "http", "http", "http", "twilio"]
    assert requests_while_open == 3  # the 4th message skipped Twilio: circuit open after 3 failures
    assert gateway_requests == 4
    assert outcomes[0].cost == Decimal("0.005") and outcomes[-1].cost == Decimal("0.0079")


def test_after_the_cool_down_one_send_probes_and_the_others_fail_over(fake_twilio):
    """Half-open admits exactly one probe: sends that arrive while it is out go to the next provider
    instead of piling onto the one that was failing."""
    clock = Clock()

    async def run():
        async with Gateway() as gateway:
            settings = twilio_settings(fake_twilio, sms_providers="twilio,http", sms_http_url=gateway.url,
                                       sms_circuit_failures=1, sms_circuit_cooldown_s=60)
            sms = SmsProvider(settings, clock=clock)
            await sms.start()
            try:
                fake_twilio.answer_next(503)
                first = await sms.send(message())  # Twilio fails: its circuit opens, the gateway delivers
                clock.now = 61
                at_once = await asyncio.gather(*(sms.send(message()) for _ in range(3)))
                after = await sms.send(message())  # the probe succeeded: Twilio is closed again
                return [first, *at_once, after], sms.open_circuits()
            finally:
                await sms.close()

    outcomes, circuits = asyncio.run(run())
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    assert [o.provider for o in outcomes] == ["http", "twilio", "http", "http", "twilio"]
    assert fake_twilio.requests == 3 and circuits == {"twilio": 0, "http": 0}


def test_all_providers_failing_is_transient_then_circuit_open(fake_twilio):
    clock = Clock()

    async def run():
        settings = twilio_settings(fake_twilio, sms_circuit_failures=1, sms_circuit_cooldown_s=10)
        sms = SmsProvider(settings, clock=clock)
        await sms.start()
        try:
            fake_twilio.answer_next(503)
            return await sms.send(message()), await sms.send(message())
        finally:
            await sms.close()

    first, second = asyncio.run(run())
    assert isinstance(first, Transient) and first.error_class == "http_503"
    assert isinstance(second, Transient) and second.error_class == "circuit_open" and second.retry_after_s == 10


def test_permanent_answer_does_not_fail_over(fake_twilio):
    async def run():
        async with Gateway() as gateway:
            settings = twilio_settings(fake_twilio, sms_providers="twilio,http", sms_http_url=gateway.url)
            fake_twilio.error_next(21610, "Attempt to send to unsubscribed recipient")
            return await send_with(SmsProvider(settings), message()), len(gateway.requests)

    outcome, gateway_requests = asyncio.run(run())
    # Opted out is the recipient's choice: suppressed, not failed, and never tried elsewhere.
    assert outcome == Suppressed("opted_out", outcome.message, outcome.status_code, provider="twilio")
    assert gateway_requests == 0


def test_sms_provider_validates_before_sending(fake_twilio):
    sms = SmsProvider(twilio_settings(fake_twilio))
    bad_number = asyncio.run(send_with(sms, message("555")))
    too_long = asyncio.run(send_with(SmsProvider(twilio_settings(fake_twilio)), message(text="x" * 1601)))
    assert bad_number.error_class == "invalid_phone_number" and too_long.error_class == "message_too_long"
    assert fake_twilio.requests == 0
    assert sms.name_for(message()) == "sms"


def test_registry_and_settings_from_env():
    settings = Settings.load({"TIDINGS_SMS_PROVIDERS": "http", "TIDINGS_SMS_HTTP_URL": "http://127.0.0.1:1/x",
                              "TIDINGS_SMS_CIRCUIT_FAILURES": "2", "TIDINGS_SMS_TWILIO_AUTH_TOKEN": "tok-secret"})
    sms = settings.section(SmsSettings)
    assert sms.sms_circuit_failures == 2 and "tok-secret" not in repr(sms)
    assert isinstance(provider_for("sms", settings), SmsProvider)
    with pytest.raises(SettingsError):
        SmsProvider(Settings(sms_providers="carrier-pigeon"))


def test_twilio_token_never_logged(fake_twilio, caplog):
    caplog.set_level("DEBUG")
    asyncio.run(send_with(SmsProvider(twilio_settings(fake_twilio)), message()))
    import base64
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert AUTH_TOKEN not in caplog.text and basic not in caplog.text
