"""Rate limits per principal and channel: 429 with Retry-After once the allowance is used, per
channel overrides, batches count each notification, and time (the gateway's clock) restores it."""
from __future__ import annotations

import pytest

from consumer.settings import Settings, SettingsError
from gateway.rate_limits import Rate, RateLimits, parse_rate
from tests.gateway.conftest import make_token
from tests.gateway.test_notifications import ONE, events_on

SMS = {**ONE, "channels": ["sms"], "recipient": {"id": "u1", "phone": "+14155550100"}}


def test_429_with_retry_after_then_allowed_again(start_gateway, clock):
    gateway = start_gateway(gateway_rate_limit="3/h")
    token = make_token("billing")
    statuses = [gateway.request("POST", "/v1/notifications", token, json=ONE).status_code for _ in range(3)]
    assert statuses == [202, 202, 202]
    limited = gateway.request("POST", "/v1/notifications", token, json=ONE)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1200"  # one of 3 per hour frees up every 20 minutes
    assert "email" in limited.json()["error"]
    # Another principal has its own allowance; the same principal's other channels too.
    assert gateway.request("POST", "/v1/notifications", make_token("crm"), json=ONE).status_code == 202
    assert gateway.request("POST", "/v1/notifications", token, json=SMS).status_code == 202
    clock.advance(1199)
    assert gateway.request("POST", "/v1/notifications", token, json=ONE).status_code == 429
    clock.advance(1)
    assert gateway.request("POST", "/v1/notifications", token, json=ONE).status_code == 202
    assert len(events_on(gateway, "high")) == 6  # the refused ones were not published
    assert gateway.metrics.rate_limited.labels("email")._value.get() == 2


def test_per_channel_limits_and_batches_all_or_nothing(start_gateway):
    gateway = start_gateway(gateway_rate_limit="100/h", gateway_rate_limits="sms=2/m")
    token = make_token()
    both = {**ONE, "channels": ["email", "sms"], "recipient": {"id": "u", "email": "a@example.com",
                                                               "phone": "+14155550100"}}
    assert gateway.request("POST", "/v1/notifications", token, json=[both, both, both]).status_code == 429
    # The refused batch used none of the email allowance either: 100 emails still fit.
    assert gateway.request("POST", "/v1/notifications", token, json=[ONE] * 100).status_code == 202
    assert gateway.request("POST", "/v1/notifications", token, json=ONE).status_code == 429
    assert gateway.request("POST", "/v1/notifications", token, json=[SMS, SMS]).status_code == 202
    third = gateway.request("POST", "/v1/notifications", token, json=SMS)
    assert third.status_code == 429 and third.headers["Retry-After"] == "30"


def test_rate_settings_are_parsed_or_refused_by_name():
    assert parse_rate("100/h") == Rate(100, 3600)
    assert parse_rate("20/30s") == Rate(20, 30)
    limits = RateLimits.from_settings(Settings(gateway_rate_limits="sms=10/d, email=5/m"))
    assert limits.of("sms") == Rate(10, 86400) and limits.of("slack") == Rate(100, 3600)
    for bad in ({"gateway_rate_limit": "lots"}, {"gateway_rate_limit": "0/h"}, {"gateway_rate_limits": "fax=1/h"}):
        with pytest.raises(SettingsError, match="TIDINGS_GATEWAY_RATE_LIMIT"):
            RateLimits.from_settings(Settings(**bad))
