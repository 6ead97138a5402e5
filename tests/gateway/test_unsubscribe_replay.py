"""One-click unsubscribe links opt out once: a provider's retry is answered again without writing,
and after the recipient opted back in (over the gateway or with `tidings prefs`) the old link is
refused and the opt-in stays."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import jwt
import psycopg

from gateway.unsubscribe import AUDIENCE
from tests.cli.run import tidings
from tests.gateway.conftest import make_token
from gateway.settings import GatewaySettings

NEWSLETTER = {"recipient_id": "user-7", "channel": "email", "category": "newsletter"}


def new_link(gateway) -> str:
    answer = gateway.request("POST", "/v1/unsubscribe-links", make_token(scopes=["admin:preferences"]), json=NEWSLETTER)
    assert answer.status_code == 200, answer.text
    return parse_qs(urlsplit(answer.json()["url"]).query)["token"][0]


def one_click(gateway, token: str):
    """What a mail provider sends (RFC 8058)."""
    return gateway.request("POST", "/v1/unsubscribe", params={"token": token}, content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})


def newsletter_preference(database_url: str) -> tuple | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT enabled, source FROM preferences WHERE recipient_id = 'user-7'"
                            " AND channel = 'email' AND category = 'newsletter'").fetchone()


def opt_back_in(gateway) -> None:
    answer = gateway.request("PUT", "/v1/recipients/user-7/preferences", make_token(scopes=["admin:preferences"]),
                             json={"enabled": True, "channel": "email", "category": "newsletter"})
    assert answer.status_code == 200, answer.text


def test_an_old_link_cannot_undo_a_later_opt_in(gateway, pipeline):
    token = new_link(gateway)
    first = one_click(gateway, token)
    assert first.status_code == 200 and first.json()["enabled"] is False
    assert newsletter_preference(pipeline.database_url) == (False, "unsubscribe")
    retried = one_click(gateway, token)  # the provider's retry, or a second click: the same answer
    assert retried.status_code == 200 and retried.json()["enabled"] is False

    opt_back_in(gateway)
    replayed = one_click(gateway, token)
    assert replayed.status_code == 410, replayed.text
    assert "already used" in replayed.json()["error"] and "opted back in" in replayed.json()["error"]
    assert newsletter_preference(pipeline.database_url) == (True, "api")  # still subscribed
    page = gateway.request("GET", "/v1/unsubscribe", params={"token": token})
    assert page.status_code == 410 and "already used" in page.json()["error"]

    # The link in a newer message still works, once.
    fresh = one_click(gateway, new_link(gateway))
    assert fresh.status_code == 200 and newsletter_preference(pipeline.database_url) == (False, "unsubscribe")
    with psycopg.connect(pipeline.database_url) as conn:
        outcomes = conn.execute("SELECT outcome, status_code FROM audit_log WHERE action = 'unsubscribe.one_click'"
                                " ORDER BY id").fetchall()
    assert outcomes == [("ok", 200), ("ok", 200), ("rejected", 410), ("ok", 200)]


def test_opting_back_in_with_tidings_prefs_retires_the_link_too(gateway, pipeline):
    token = new_link(gateway)
    assert one_click(gateway, token).status_code == 200
    result = tidings(pipeline, "prefs", "set", "user-7", "--channel", "email", "--category", "newsletter", "--on")
    assert result.returncode == 0, result.stderr
    assert one_click(gateway, token).status_code == 410
    assert newsletter_preference(pipeline.database_url) == (True, "user")


def test_links_signed_before_link_ids_are_single_use_too(gateway, pipeline):
    """Links already in mailboxes carry no jti: they are known by their hash."""
    now = datetime.now(timezone.utc)
    legacy = jwt.encode({"sub": "user-7", "aud": AUDIENCE, "iat": now, "exp": now + timedelta(days=30),
                         "ch": "email", "cat": "newsletter"}, gateway.settings.section(GatewaySettings).gateway_unsubscribe_secret.get_secret_value(),
                        algorithm="HS256")
    assert one_click(gateway, legacy).status_code == 200
    opt_back_in(gateway)
    assert one_click(gateway, legacy).status_code == 410
    assert newsletter_preference(pipeline.database_url) == (True, "api")
