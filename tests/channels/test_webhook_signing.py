"""Standard Webhooks signatures, checked by an independent verifier written from the spec:
real requests verify with either secret during rotation; tampered bodies and old timestamps fail."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import pytest

from channels.webhook_signing import WebhookSigner
from consumer.settings import Settings, SettingsError
from tests.channels.test_webhook_provider import Receiver, message, provider, serving

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


def signed_request(secrets: str) -> tuple[dict, dict]:
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_signing_secrets=secrets) as p:
            m = message(f"{base}/hook")
            await p.send(m)
        return m, receiver.requests[0]

    return asyncio.run(scenario())


def test_a_real_request_verifies_with_the_configured_secret():
    m, request = signed_request(OLD)
    verify(OLD, request["headers"], request["body"])
    assert request["headers"]["webhook-id"] == m["delivery_id"]
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 10


def test_during_rotation_the_request_verifies_with_either_secret():
    _, request = signed_request(f"{OLD}, {NEW}")
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    verify(OLD, request["headers"], request["body"])
    verify(NEW, request["headers"], request["body"])
    with pytest.raises(VerificationError):
        verify("whsec_" + base64.b64encode(b"some-other-key").decode(), request["headers"], request["body"])


def test_a_tampered_body_or_id_or_an_old_timestamp_fails():
    _, request = signed_request(OLD)
    headers, body = request["headers"], request["body"]
    tampered = json.loads(body)
    tampered["subject"] = "changed"
    with pytest.raises(VerificationError):
        verify(OLD, headers, json.dumps(tampered, separators=(",", ":")).encode())
    with pytest.raises(VerificationError):
        verify(OLD, {**headers, "webhook-id": "another-id"}, body)
    with pytest.raises(VerificationError):
        verify(OLD, headers, body, now=int(headers["webhook-timestamp"]) + TOLERANCE_S + 1)


def test_signer_matches_the_spec_for_a_fixed_input():
    signer = WebhookSigner.from_setting(OLD)
    headers = signer.headers("msg_1", 1_700_000_000, b'{"a":1}')
    verify(OLD, headers, b'{"a":1}', now=1_700_000_000)
    assert headers["webhook-signature"].startswith("v1,")


def test_a_malformed_secret_is_a_settings_error_that_does_not_echo_it():
    with pytest.raises(SettingsError) as raised:
        WebhookSigner.from_setting("whsec_not*base64!")
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
