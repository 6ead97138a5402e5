"""The push provider against fakes of FCM (with Google's token endpoint) and APNs (HTTP/2 over TLS)
that speak their real shapes: the messages and headers each receives, access tokens minted once
and provider tokens reused, every documented error to its outcome, dead tokens suppressed as
device_unregistered, Retry-After honoured, secrets kept out of outcomes, and the SSRF guard."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.push.device import Device, device_address, parse_device
from channels.push.provider import PushProvider
from consumer.channel_specs import AddressInvalid
from consumer.outcomes import Delivered, Permanent, Suppressed, Transient
from consumer.settings import Settings, SettingsError
from tests.channels import test_outbound_ssrf as ssrf
from tests.fixtures.push import APP, apns_token, fcm_token, pem, status


def message(address: str, priority: str = "HIGH", expires_at: datetime | None = None, subject: str | None = "Disk full",
            text: str | None = "node-7 at 97%", **options) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "push",
            "priority": priority, "address": address, "subject": subject, "text": text, "expires_at": expires_at,
            "options": json.dumps(options), "attempt": 1}


def send_all(settings: dict, messages: list[dict], *, together: bool = False, clock=None, resolver=None) -> list:
    async def run():
        extra = {"clock": clock} if clock else {}
        provider = PushProvider(Settings(**settings), resolver=resolver, **extra)
        await provider.start()
        try:
            if together:
                return list(await asyncio.gather(*(provider.send(m) for m in messages)))
            return [await provider.send(m) for m in messages]
        finally:
            await provider.close()
    return asyncio.run(run())


def fcm_device() -> str:
    return f"fcm:{APP}:{fcm_token()}"


def apns_device(platform: str = "apns") -> str:
    return f"{platform}:{APP}:{apns_token()}"


# Addresses

@pytest.mark.parametrize("address, expected", [
    ("fcm:com.example.app:abc:APA91b_x-y0123456789", Device("fcm", "com.example.app", "abc:APA91b_x-y0123456789")),
    ("APNS:com.Example.App:" + "AB" * 32, Device("apns", "com.Example.App", "ab" * 32)),
    ("apns-sandbox:com.example.app:" + "0f" * 50, Device("apns-sandbox", "com.example.app", "0f" * 50)),
])
def test_an_address_names_one_device_normalised(address, expected):
    assert parse_device(address) == expected
    assert device_address(expected.platform, expected.app, expected.token) == expected.address


@pytest.mark.parametrize("address, reason", [
    ("fcm:com.example.app", "<platform>:<app>:<token>"),
    ("gcm:com.example.app:" + "a" * 40, "platform 'gcm'"),
    ("fcm:com example:" + "a" * 40, "app"),
    ("fcm:com.example.app:short", "FCM registration token"),
    ("fcm:com.example.app:" + "a" * 30 + "/x", "FCM registration token"),
    ("apns:com.example.app:" + "z" * 64, "hexadecimal"),
    ("apns:com.example.app:" + "a" * 62, "hexadecimal"),
])
def test_a_malformed_address_is_refused_with_its_reason(address, reason):
    with pytest.raises(AddressInvalid, match=reason.replace("<", ".").replace(">", ".")):
        parse_device(address)


# FCM

def test_an_fcm_notification_carries_title_body_data_and_each_platforms_block(fcm):
    now = float(int(time.time()))
    expires = datetime.fromtimestamp(now + 120, timezone.utc)
    [outcome] = send_all(fcm.settings(), [message(
        fcm_device(), "URGENT", expires, data={"order": "A-1", "count": 2}, collapse_key="orders", sound="default",
        badge=4, thread_id="orders", mutable_content=True,
        android={"notification": {"color": "#ff0000"}}, webpush={"fcm_options": {"link": "https://example.com/o"}})],
        clock=lambda: now)
    assert outcome == Delivered(status_code=200, provider_message_id="projects/tidings-test/messages/0:1", provider="fcm")
    [sent] = fcm.messages
    assert sent["notification"] == {"title": "Disk full", "body": "node-7 at 97%"}
    assert sent["data"] == {"order": "A-1", "count": "2"}  # FCM takes strings only
    assert sent["android"] == {"priority": "HIGH", "collapse_key": "orders", "ttl": "120s",
                               "notification": {"sound": "default", "tag": "orders", "color": "#ff0000"}}
    assert sent["apns"] == {"headers": {"apns-priority": "10", "apns-push-type": "alert",
                                        "apns-expiration": str(int(now) + 120), "apns-collapse-id": "orders"},
                            "payload": {"aps": {"sound": "default", "badge": 4, "thread-id": "orders",
                                                "mutable-content": 1}}}
    assert sent["webpush"] == {"headers": {"Urgency": "high", "TTL": "120"},
                               "fcm_options": {"link": "https://example.com/o"}}
    assert fcm.headers[0]["Authorization"] == f"Bearer {fcm.issued[0]}"


def test_a_background_fcm_push_is_a_data_message_at_normal_priority(fcm):
    [outcome] = send_all(fcm.settings(), [message(fcm_device(), "URGENT", push_type="background", data={"sync": "1"})])
    assert isinstance(outcome, Delivered)
    [sent] = fcm.messages
    assert "notification" not in sent and sent["data"] == {"sync": "1"}
    assert sent["android"]["priority"] == "NORMAL" and "ttl" not in sent["android"]
    assert sent["apns"] == {"headers": {"apns-priority": "5", "apns-push-type": "background"},
                            "payload": {"aps": {"content-available": 1}}}


def test_one_access_token_serves_many_sends_and_an_expiring_one_is_minted_again(fcm, tmp_path):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(fcm.service_account()))
    settings = {**fcm.settings(push_fcm_service_account=None), "push_fcm_service_account_file": str(key_file)}
    outcomes = send_all(settings, [message(fcm_device()) for _ in range(8)], together=True)
    assert all(isinstance(o, Delivered) for o in outcomes) and len(fcm.messages) == 8
    assert len(fcm.issued) == 1  # concurrent sends wait for the one refresh
    # google-auth counts a token expired a few minutes early: one valid for 60 s is never reused.
    fcm.expires_in = 60
    send_all(settings, [message(fcm_device()) for _ in range(2)])
    assert len(fcm.issued) == 3


def test_an_access_token_fcm_refuses_is_minted_again_once(fcm):
    fcm.answer_next(401, status(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
    [outcome] = send_all(fcm.settings(), [message(fcm_device())])
    assert isinstance(outcome, Delivered) and len(fcm.issued) == 2 and fcm.requests == 2


def test_dead_and_malformed_fcm_tokens_are_suppressed_as_device_unregistered(fcm):
    dead, foreign = fcm_token(), fcm_token()
    fcm.dead.add(dead)
    fcm.foreign.add(foreign)
    outcomes = send_all(fcm.settings(), [message(f"fcm:{APP}:{dead}"), message(f"fcm:{APP}:{foreign}")])
    assert outcomes[0] == Suppressed("device_unregistered", "Requested entity was not found.", 404, provider="fcm")
    assert outcomes[1] == Permanent("fcm_sender_id_mismatch", "SenderId mismatch", 403, provider="fcm")


@pytest.mark.parametrize("code, body, headers, expected", [
    (404, status(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), {},
     Suppressed("device_unregistered", "Requested entity was not found.", 404, provider="fcm")),
    (400, status(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                 "INVALID_ARGUMENT", "message.token"), {}, "device_unregistered"),
    (400, status(400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'", "INVALID_ARGUMENT",
                 "message.data[0].value"), {}, Permanent),
    (403, status(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"), {}, Permanent),
    (401, status(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"), {},
     Permanent("fcm_third_party_auth_error", "Auth error from APNS or Web Push Service", 401, provider="fcm")),
    (429, status(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED"), {"Retry-After": "17"},
     Transient("fcm_quota_exceeded", "Quota exceeded", 429, 17.0, provider="fcm")),
    (429, status(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED"), {},
     Transient("fcm_quota_exceeded", "Quota exceeded", 429, 60.0, provider="fcm")),
    (503, status(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"), {"Retry-After": "5"},
     Transient("fcm_unavailable", "The service is currently unavailable.", 503, 5.0, provider="fcm")),
    (500, status(500, "INTERNAL", "Internal error encountered.", "INTERNAL"), {},
     Transient("fcm_internal", "Internal error encountered.", 500, None, provider="fcm")),
])
def test_each_documented_fcm_error_is_its_outcome(fcm, code, body, headers, expected):
    fcm.answer_next(code, body, headers)
    [outcome] = send_all(fcm.settings(), [message(fcm_device())])
    if expected == "device_unregistered":
        assert isinstance(outcome, Suppressed) and outcome.reason == expected and outcome.provider == "fcm"
    elif expected is Permanent:
        assert isinstance(outcome, Permanent) and outcome.error_class.startswith("fcm_"), outcome
    else:
        assert outcome == expected


def test_a_refused_assertion_is_permanent_and_shows_no_key(fcm):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = fcm.service_account(private_key=pem(stranger))
    [outcome] = send_all(fcm.settings(push_fcm_service_account=json.dumps(account)), [message(fcm_device())])
    assert isinstance(outcome, Permanent) and outcome.error_class == "fcm_token_refused"
    assert "invalid_grant" in outcome.message and "PRIVATE KEY" not in outcome.message
    assert fcm.requests == 0


def test_secrets_echoed_by_fcm_or_apns_are_redacted_from_outcomes(fcm, apns):
    private_key = fcm.service_account()["private_key"]
    fcm.answer_next(400, status(400, "INVALID_ARGUMENT", f"bad key {private_key}"))
    fcm.answer_next(400, status(400, "INVALID_ARGUMENT", "echo {authorization}"))
    apns.answer_next(400, "{authorization}")
    outcomes = send_all({**fcm.settings(), **apns.settings()},
                        [message(fcm_device()), message(fcm_device()), message(apns_device())])
    assert [o.message for o in outcomes] == ["bad key [redacted]", "echo Bearer [redacted]", "400 bearer [redacted]"]
    assert fcm.issued and apns.requests == 1


# APNs

def test_an_apns_alert_carries_its_headers_and_payload(apns):
    now = time.time()
    expires = datetime.fromtimestamp(int(now) + 600, timezone.utc)
    note = message(apns_device(), "URGENT", expires, data={"order": "A-1", "lines": [1, 2]}, collapse_key="orders",
                   sound="default", badge=2, thread_id="orders", category="ORDER", mutable_content=True)
    [outcome] = send_all(apns.settings(), [note])
    assert outcome == Delivered(status_code=200, provider_message_id=note["delivery_id"], provider="apns")
    [push] = apns.pushes
    assert push["token"] == note["address"].rsplit(":", 1)[1]
    assert {k: v for k, v in push["headers"].items() if k.startswith("apns-")} == {
        "apns-topic": APP, "apns-push-type": "alert", "apns-priority": "10", "apns-expiration": str(int(now) + 600),
        "apns-collapse-id": "orders", "apns-id": note["delivery_id"]}
    assert push["payload"] == {"order": "A-1", "lines": [1, 2], "aps": {
        "alert": {"title": "Disk full", "body": "node-7 at 97%"}, "badge": 2, "sound": "default",
        "thread-id": "orders", "category": "ORDER", "mutable-content": 1}}
    assert apns.http_versions == {"2"}


def test_a_background_apns_push_goes_at_priority_5_without_an_alert(apns):
    [outcome] = send_all(apns.settings(), [message(apns_device(), "URGENT", push_type="background", data={"s": 1})])
    assert isinstance(outcome, Delivered)
    [push] = apns.pushes
    assert push["headers"]["apns-push-type"] == "background" and push["headers"]["apns-priority"] == "5"
    assert push["headers"]["apns-expiration"] == "0" and push["payload"] == {"s": 1, "aps": {"content-available": 1}}


def test_sandbox_devices_go_to_the_sandbox_host(apns):
    settings = apns.settings(push_apns_production_url="https://127.0.0.1:9")  # nothing listens there
    outcomes = send_all(settings, [message(apns_device("apns-sandbox")), message(apns_device("apns"))])
    assert isinstance(outcomes[0], Delivered) and len(apns.pushes) == 1
    assert isinstance(outcomes[1], Transient) and outcomes[1].provider == "apns"


def test_one_provider_token_serves_40_minutes_then_a_new_one_is_signed(apns):
    now = [time.time() - 45 * 60]  # APNs refuses an iat in the future

    async def run():
        provider = PushProvider(Settings(**apns.settings()), clock=lambda: now[0])
        await provider.start()
        try:
            results = [await provider.send(message(apns_device())) for _ in range(3)]
            now[0] += 39 * 60
            results.append(await provider.send(message(apns_device())))
            now[0] += 2 * 60
            results.append(await provider.send(message(apns_device())))
            return results
        finally:
            await provider.close()

    assert all(isinstance(o, Delivered) for o in asyncio.run(run()))
    assert len(apns.provider_tokens) == 2


def test_a_refused_provider_token_is_renewed_once_within_the_send(apns):
    start = time.time() - 30 * 60
    now = [start]

    async def run():
        provider = PushProvider(Settings(**apns.settings()), clock=lambda: now[0])
        await provider.start()
        try:
            first = await provider.send(message(apns_device()))
            apns.refuse_tokens_before = start + 5  # e.g. the key's clock was off: ExpiredProviderToken
            now[0] = start + 10
            renewed = await provider.send(message(apns_device()))
            apns.refuse_tokens_before = start + 10 ** 6  # every token refused from now on
            requests = apns.requests
            refused = await provider.send(message(apns_device()))
            return first, renewed, refused, apns.requests - requests
        finally:
            await provider.close()

    first, renewed, refused, tries = asyncio.run(run())
    assert isinstance(first, Delivered) and isinstance(renewed, Delivered) and len(apns.provider_tokens) == 2
    # Renewed less than 20 minutes ago: another renewal would only earn TooManyProviderTokenUpdates.
    assert refused == Permanent("apns_expired_provider_token", "403 ExpiredProviderToken", 403, provider="apns")
    assert tries == 1


@pytest.mark.parametrize("code, reason, headers, expected", [
    (410, "Unregistered", {}, Suppressed("device_unregistered", "410 Unregistered", 410, provider="apns")),
    (410, "ExpiredToken", {}, Suppressed("device_unregistered", "410 ExpiredToken", 410, provider="apns")),
    (400, "BadDeviceToken", {}, Suppressed("device_unregistered", "400 BadDeviceToken", 400, provider="apns")),
    (400, "BadTopic", {}, Permanent("apns_bad_topic", "400 BadTopic", 400, provider="apns")),
    (400, "TopicDisallowed", {}, Permanent("apns_topic_disallowed", "400 TopicDisallowed", 400, provider="apns")),
    (400, "DeviceTokenNotForTopic", {}, Permanent("apns_device_token_not_for_topic", "400 DeviceTokenNotForTopic",
                                                  400, provider="apns")),
    (403, "BadCertificateEnvironment", {}, Permanent("apns_bad_certificate_environment",
                                                     "403 BadCertificateEnvironment", 403, provider="apns")),
    (413, "PayloadTooLarge", {}, Permanent("apns_payload_too_large", "413 PayloadTooLarge", 413, provider="apns")),
    (400, "IdleTimeout", {}, Transient("apns_idle_timeout", "400 IdleTimeout", 400, None, provider="apns")),
    (429, "TooManyRequests", {"Retry-After": "9"}, Transient("apns_too_many_requests", "429 TooManyRequests", 429, 9.0,
                                                             provider="apns")),
    (500, "InternalServerError", {}, Transient("apns_internal_server_error", "500 InternalServerError", 500, None,
                                               provider="apns")),
    (503, "ServiceUnavailable", {"Retry-After": "30"}, Transient("apns_service_unavailable",
                                                                 "503 ServiceUnavailable", 503, 30.0, provider="apns")),
])
def test_each_documented_apns_error_is_its_outcome(apns, code, reason, headers, expected):
    apns.answer_next(code, reason, headers)
    assert send_all(apns.settings(), [message(apns_device())]) == [expected]


def test_apns_checks_dead_tokens_topics_and_the_payload_size(apns):
    dead = apns_token()
    apns.dead.add(dead)
    outcomes = send_all(apns.settings(), [
        message(f"apns:{APP}:{dead}"), message(apns_device().replace(APP, "com.example.other")),
        message(apns_device(), data={"blob": "x" * 4100})])
    assert outcomes[0] == Suppressed("device_unregistered", "410 Unregistered", 410, provider="apns")
    assert outcomes[1] == Permanent("apns_topic_disallowed", "400 TopicDisallowed", 400, provider="apns")
    assert isinstance(outcomes[2], Permanent) and outcomes[2].error_class == "apns_payload_too_large"
    assert apns.requests == 2  # the oversized payload was never sent


# Configuration

def test_a_platform_without_its_provider_is_not_configured_and_neither_stops_the_worker(fcm):
    [outcome] = send_all(fcm.settings(), [message(apns_device())])
    assert isinstance(outcome, Permanent) and outcome.error_class == "push_not_configured"
    assert "TIDINGS_PUSH_APNS_KEY" in outcome.message and outcome.provider == "apns"
    with pytest.raises(SettingsError, match="needs FCM .* or APNs"):
        PushProvider(Settings())
    with pytest.raises(SettingsError, match="push_apns_key_id"):
        PushProvider(Settings(push_apns_key="-----BEGIN PRIVATE KEY-----"))
    with pytest.raises(SettingsError, match="not JSON") as refused:
        PushProvider(Settings(push_fcm_service_account='{"private_key": "-----BEGIN'))
    assert "BEGIN" not in str(refused.value)


# The SSRF guard

class StaticTokens:
    """The send path alone: the access token is taken as minted."""

    async def current(self) -> str:
        return "ya29.static"

    def forget(self, token: str) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def fcm_provider(allowed: str | None, url: str) -> PushProvider:
    fake_account = {"type": "service_account", "project_id": "p", "client_email": "a@p.iam.gserviceaccount.com",
                    "private_key": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                    "token_uri": "https://oauth2.googleapis.com/token"}
    provider = PushProvider(Settings(push_fcm_service_account=json.dumps(fake_account), push_fcm_api_base=url,
                                     push_allowed_targets=allowed, push_timeout_s=5.0), resolver=ssrf.FakeDns(ssrf.DNS))
    provider.senders["fcm"].tokens = StaticTokens()
    return provider


def fcm_message_for(url: str) -> dict:
    return message(fcm_device())


# The SSRF matrix, a redirect to an internal address, and the control case (tests/channels/test_outbound_ssrf.py).
(test_the_ssrf_matrix_reaches_no_internal_address, test_a_redirect_to_an_internal_address_is_not_followed,
 test_control_an_allowed_internal_target_does_reach_the_canary) = ssrf.cases_for("push fcm", fcm_provider, fcm_message_for)


@pytest.mark.parametrize("host, allowed, reached", [
    ("localtest", None, False),         # a name resolving to loopback
    ("metadata.test", None, False),     # to the cloud metadata address
    ("127.0.0.1", None, False),         # a literal
    ("localtest", "localtest", True),   # control: listed by name
    ("127.0.0.1", "127.0.0.0/8", True),  # control: listed by subnet
])
def test_apns_connections_go_through_the_guard(apns, host, allowed, reached):
    port = apns.base.rsplit(":", 1)[1]
    settings = apns.settings(push_apns_production_url=f"https://{host}:{port}", push_allowed_targets=allowed)
    [outcome] = send_all(settings, [message(apns_device())], resolver=ssrf.FakeDns(ssrf.DNS))
    if reached:
        assert isinstance(outcome, Delivered) and apns.requests == 1
    else:
        assert isinstance(outcome, Permanent) and outcome.error_class == "target_refused", outcome
        assert apns.requests == 0


@pytest.mark.parametrize("options", [
    {}, {"push_type": "background"}, {"collapse_key": "ci", "sound": "ding", "badge": 3},
    {"data": {"n": 1, "s": "x"}, "android": {"priority": "normal"}, "apns": {"payload": {"aps": {"badge": 9}}}},
    {"webpush": {"headers": {"Urgency": "low"}}, "thread_id": "t1", "category": "c", "mutable_content": True}])
@pytest.mark.parametrize("priority, expires_in_s", [("URGENT", None), ("LOW", 300), ("NORMAL", -5)])
def test_the_encoded_fcm_body_is_the_message_encoded_byte_for_byte(options, priority, expires_in_s):
    """fcm_body keeps the platform blocks it encoded; what it sends is exactly fcm_message's JSON."""
    from channels.push.fcm_message import fcm_body, fcm_message
    from channels.push.options import PushOptions

    now = time.time()
    expires = datetime.fromtimestamp(now + expires_in_s, timezone.utc) if expires_in_s is not None else None
    sent = message(fcm_device(), priority=priority, expires_at=expires, subject="Ünïcode ✓")
    device, parsed = parse_device(sent["address"]), PushOptions.model_validate(options)
    for _ in range(2):  # the second time from the kept blocks
        expected = json.dumps({"message": fcm_message(device, sent, parsed, now)}, separators=(",", ":"),
                              ensure_ascii=False).encode()
        assert fcm_body(device, sent, parsed, now) == expected
