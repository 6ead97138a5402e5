"""Standard Webhooks signatures, checked by an independent verifier written from the spec and by
the reference verifier (the `standardwebhooks` package): each endpoint has its own secret, so a
receiver's signatures verify nowhere else; either secret verifies during rotation; tampered bodies
and old timestamps fail; `tidings endpoints secret URL` gives a receiver its secret."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from yarl import URL

from channels.webhook.signing import WebhookSigner, endpoint_url
from consumer.settings import Settings, SettingsError
from tests.channels.test_webhook_provider import Receiver, message, provider, serving
from tests.cli.run import tidings

OLD_KEY, NEW_KEY = b"old-key-0123456789abcdef", b"new-key-fedcba9876543210"
OLD = "whsec_" + base64.b64encode(OLD_KEY).decode()
NEW = "whsec_" + base64.b64encode(NEW_KEY).decode()
TOLERANCE_S = 5 * 60


class VerificationError(Exception):
    pass


def verify(secret: str, headers: dict, body: bytes, now: float | None = None) -> None:
    """The receiver side, per the spec: tolerance check, then any v1 signature must match."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise VerificationError("timestamp outside tolerance")
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.{body.decode()}".encode(), hashlib.sha256).digest()).decode()
    for signature in headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise VerificationError("no matching signature")


def signed_requests(secrets: str, paths=("/hook",), endpoint_secrets: str | None = None) -> tuple[list, str]:
    """One delivery to each path of one loopback receiver; the requests as received, and the base URL."""
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_signing_secrets=secrets,
                                                        webhook_endpoint_secrets=endpoint_secrets) as p:
            for path in paths:
                await p.send(message(f"{base}{path}"))
        return receiver.requests, base

    return asyncio.run(scenario())


def endpoint_secrets(url: str, *, masters: str = OLD, endpoints: str | None = None) -> list[str]:
    return WebhookSigner.from_settings(masters, endpoints).secrets_for(URL(url))


def test_a_real_request_verifies_with_its_endpoints_secret_at_the_reference_verifier():
    (request,), base = signed_requests(OLD)
    (secret,) = endpoint_secrets(f"{base}/hook")
    assert secret != OLD  # derived for this endpoint, never the master secret itself
    Webhook(secret).verify(request["body"], request["headers"])
    verify(secret, request["headers"], request["body"])
    assert request["headers"]["webhook-id"] == json.loads(request["body"])["id"]
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 10


def test_receiver_a_cannot_obtain_a_signature_that_verifies_at_receiver_b():
    """A publishes an event with a body of its choosing to its own URL: the signature it receives
    must not verify at B (same host, another path; and another port)."""
    (at_a, at_b), base = signed_requests(OLD, paths=("/a", "/b"))
    secret_a, secret_b = endpoint_secrets(f"{base}/a")[0], endpoint_secrets(f"{base}/b")[0]
    other_port = str(URL(base).with_port(URL(base).port + 1)) + "/a"
    assert len({secret_a, secret_b, endpoint_secrets(other_port)[0]}) == 3
    Webhook(secret_a).verify(at_a["body"], at_a["headers"])
    Webhook(secret_b).verify(at_b["body"], at_b["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_b).verify(at_a["body"], at_a["headers"])  # A's request replayed at B
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(at_a["body"], at_a["headers"])  # nor with the master secret


def test_during_rotation_the_request_verifies_with_either_secret():
    (request,), base = signed_requests(f"{NEW}, {OLD}")
    new_secret, old_secret = WebhookSigner.from_settings(f"{NEW}, {OLD}").secrets_for(URL(f"{base}/hook"))
    assert old_secret == endpoint_secrets(f"{base}/hook", masters=OLD)[0]  # what the receiver had before
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(request["body"], request["headers"])
    Webhook(new_secret).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"some-other-key").decode()).verify(request["body"], request["headers"])


def test_listed_endpoint_secrets_sign_that_endpoint_with_rotation_and_an_origin_covers_its_paths():
    own, other = "whsec_" + base64.b64encode(b"own-key-of-receiver-a").decode(), NEW
    base = "http://127.0.0.1:8123"
    listing = json.dumps({f"{base}/a": [own, other], base: other})
    assert endpoint_secrets(f"{base}/a", endpoints=listing) == [own, other]
    assert endpoint_secrets(f"{base}/c/d?x=1", endpoints=listing) == [other]  # the origin's
    assert endpoint_secrets(f"{base.replace('127.0.0.1', 'localhost')}/a", endpoints=listing) != [own, other]

    signer = WebhookSigner.from_settings(OLD, listing)
    headers = signer.headers(URL(f"{base}/a"), "msg_1", int(time.time()), b'{"a":1}')
    Webhook(own).verify(b'{"a":1}', headers)
    Webhook(other).verify(b'{"a":1}', headers)
    assert len(headers["webhook-signature"].split(" ")) == 2


def test_endpoint_urls_are_compared_in_canonical_form():
    assert endpoint_url(URL("HTTPS://Hooks.Example.COM:443/p?q=1#frag")) == "https://hooks.example.com/p?q=1"
    assert endpoint_url(URL("http://hooks.example.com:8080")) == "http://hooks.example.com:8080/"
    assert endpoint_secrets("https://Hooks.Example.com:443/p") == endpoint_secrets("https://hooks.example.com/p")


def test_the_cli_prints_the_secret_a_receiver_verifies_with():
    (request,), base = signed_requests(f"{NEW},{OLD}")
    shown = tidings(None, "endpoints", "secret", f"{base}/hook", TIDINGS_WEBHOOK_SIGNING_SECRETS=f"{NEW},{OLD}")
    assert shown.returncode == 0, shown.stderr
    secrets = shown.stdout.split()
    assert len(secrets) == 2 and all(s.startswith("whsec_") for s in secrets)
    for secret in secrets:
        Webhook(secret).verify(request["body"], request["headers"])
    as_json = tidings(None, "endpoints", "secret", "--json", f"{base}/hook", TIDINGS_WEBHOOK_SIGNING_SECRETS=OLD)
    assert json.loads(as_json.stdout) == {"endpoint": f"{base}/hook", "secrets": secrets[1:]}
    unset = tidings(None, "endpoints", "secret", f"{base}/hook", TIDINGS_WEBHOOK_SIGNING_SECRETS="")
    bad = tidings(None, "endpoints", "secret", "http://127.0.0.1:99999/", TIDINGS_WEBHOOK_SIGNING_SECRETS=OLD)
    assert unset.returncode == 1 and "TIDINGS_WEBHOOK_SIGNING_SECRETS" in unset.stderr
    assert bad.returncode == 2 and "Port out of range" in bad.stderr


def test_a_tampered_body_or_id_or_an_old_timestamp_fails():
    (request,), base = signed_requests(OLD)
    (secret,) = endpoint_secrets(f"{base}/hook")
    headers, body = request["headers"], request["body"]
    tampered = json.loads(body)
    tampered["subject"] = "changed"
    with pytest.raises(VerificationError):
        verify(secret, headers, json.dumps(tampered, separators=(",", ":")).encode())
    with pytest.raises(VerificationError):
        verify(secret, {**headers, "webhook-id": "another-id"}, body)
    with pytest.raises(VerificationError):
        verify(secret, headers, body, now=int(headers["webhook-timestamp"]) + TOLERANCE_S + 1)


def test_signer_matches_the_spec_for_a_fixed_input():
    listing = json.dumps({"https://a.example/hook": [OLD]})
    headers = WebhookSigner.from_settings(None, listing).headers(URL("https://a.example/hook"), "msg_1",
                                                                 1_700_000_000, b'{"a":1}')
    verify(OLD, headers, b'{"a":1}', now=1_700_000_000)
    assert headers["webhook-signature"].startswith("v1,")
    # The derivation is part of the contract: HMAC-SHA256(master, label + canonical URL).
    derived = hmac.new(OLD_KEY, b"tidings webhook endpoint signing key\x00https://a.example/hook",
                       hashlib.sha256).digest()
    assert endpoint_secrets("https://a.example/hook") == ["whsec_" + base64.b64encode(derived).decode()]


@pytest.mark.parametrize("masters, endpoints", [
    ("whsec_not*base64!", None),
    (None, json.dumps({"https://a.example/": ["whsec_not*base64!"]})),
    (None, json.dumps({"https://a.example/": []})),
    (None, json.dumps({"ftp://a.example/": [OLD]})),
    (None, "[1, 2]"),
])
def test_a_malformed_secret_is_a_settings_error_that_does_not_echo_it(masters, endpoints):
    with pytest.raises(SettingsError) as raised:
        WebhookSigner.from_settings(masters, endpoints)
    assert "not*base64" not in str(raised.value)


def test_a_per_message_secret_is_refused_and_secrets_are_not_in_repr():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_signing_secrets=OLD) as p:
            outcome = await p.send(message(f"{base}/hook", options={"signing_secret": NEW}))
            return outcome, receiver.requests, repr(p.signer)

    outcome, requests, signer_repr = asyncio.run(scenario())
    assert outcome.error_class == "secret_in_event" and requests == []
    assert OLD not in repr(Settings(webhook_signing_secrets=OLD)) and "whsec" not in signer_repr
    listing = json.dumps({"https://a.example/": [NEW]})
    assert NEW not in repr(Settings(webhook_endpoint_secrets=listing))
