"""The auth matrix: every way a token can be wrong is a 401 (and nothing is published), a missing
scope is a 403; HS256 with the shared secret and RS256 with keys from a JWKS on loopback both work."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures.loopback import LoopbackServer
from tests.gateway.conftest import ALERTMANAGER_TOKEN, make_token
from tests.gateway.test_notifications import ONE, events_on


class JwksServer(LoopbackServer):
    """An identity provider's JWKS endpoint."""

    def __init__(self, keys: dict[str, rsa.RSAPrivateKey]):
        self.keys = keys
        self.fetches = 0
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/.well-known/jwks.json", self._jwks)

    async def _jwks(self, _request: web.Request) -> web.Response:
        self.fetches += 1
        jwks = [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig",
                 "alg": "RS256"} for kid, key in self.keys.items()]
        return web.json_response({"keys": jwks})


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(rsa_key):
    server = JwksServer({"key-1": rsa_key})
    yield server
    server.close()


@pytest.fixture
def gateway(start_gateway, jwks):
    return start_gateway(gateway_jwks_url=f"{jwks.base}/.well-known/jwks.json")


def _ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def test_refused_tokens_are_401_and_publish_nothing(gateway, rsa_key):
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "missing": None,
        "not bearer": "Basic dXNlcjpwYXNz",
        "expired": make_token(exp=_ago(3600), iat=_ago(7200), nbf=_ago(7200)),
        "not yet valid": make_token(nbf=_ago(-3600)),
        "wrong signature": make_token(key="another-secret-of-enough-length-123"),
        "wrong audience": make_token(aud="someone-else"),
        "wrong issuer": make_token(iss="https://evil.test"),
        "no expiry": make_token(exp=None),
        "alg none": jwt.encode({"sub": "x", "aud": "tidings", "iss": "https://issuer.test"}, None, algorithm="none"),
        "RS256, key not in the JWKS": make_token(key=other_rsa, algorithm="RS256", headers={"kid": "key-9"}),
        "RS256, forged with a known kid": make_token(key=other_rsa, algorithm="RS256", headers={"kid": "key-1"}),
        "garbage": "not.a.jwt",
    }
    for case, token in refused.items():
        headers = {} if token is None else {"Authorization": token if case == "not bearer" else f"Bearer {token}"}
        response = gateway.request("POST", "/v1/notifications", json=ONE, headers=headers)
        assert response.status_code == 401, f"{case}: {response.status_code} {response.text}"
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), case
        assert response.json()["error"], case
    assert events_on(gateway, "high") == []


def test_reasons_say_what_is_wrong(gateway):
    def reason(token):
        return gateway.request("POST", "/v1/notifications", token, json=ONE).json()["error"]
    assert "expired" in reason(make_token(exp=_ago(60), iat=_ago(600), nbf=_ago(600)))
    assert "not yet valid" in reason(make_token(nbf=_ago(-3600)))
    assert "signature" in reason(make_token(key="another-secret-of-enough-length-123"))
    assert "audience" in reason(make_token(aud="someone-else"))


def test_valid_tokens_hs256_rs256_and_clock_skew(gateway, rsa_key, jwks):
    rs256 = make_token("crm", key=rsa_key, algorithm="RS256", headers={"kid": "key-1"})
    skewed = make_token("late-clock", exp=_ago(2))  # expired 2 s ago, within the 5 s leeway
    for token in (make_token(), rs256, skewed):
        response = gateway.request("POST", "/v1/notifications", token, json=ONE)
        assert response.status_code == 202, response.text
    assert sorted(e["source"] for e in events_on(gateway, "high")) == ["billing", "crm", "late-clock"]
    assert jwks.fetches >= 1


def test_missing_scopes_are_403(gateway):
    email_only = make_token(scopes=["send:email"])
    assert gateway.request("POST", "/v1/notifications", email_only, json=ONE).status_code == 202
    both = {**ONE, "channels": ["email", "sms"], "recipient": {"id": "u", "email": "a@example.com", "phone": "+14155550100"}}
    response = gateway.request("POST", "/v1/notifications", email_only, json=both)
    assert response.status_code == 403 and "send:sms" in response.json()["error"]
    assert gateway.request("GET", "/v1/templates", email_only).status_code == 403
    assert gateway.request("GET", "/v1/dlq", email_only).status_code == 403
    assert gateway.request("GET", "/v1/recipients/u/preferences", email_only).status_code == 403
    assert gateway.request("GET", "/v1/stats", email_only).status_code == 403
    assert gateway.request("GET", "/v1/templates", make_token(scopes=["admin:templates"])).status_code == 200
    # The Alertmanager static token can post alerts and nothing else.
    assert gateway.request("POST", "/v1/notifications", ALERTMANAGER_TOKEN, json=ONE).status_code == 403
    assert gateway.request("POST", "/v1/alertmanager", email_only, json={}).status_code == 403
    assert len(events_on(gateway, "high")) == 1
