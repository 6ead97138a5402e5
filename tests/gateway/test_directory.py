"""Templates CRUD, recipients and preferences over HTTP, through the same stores as the CLI and
the router (what Postgres holds afterwards), and the one-click unsubscribe (RFC 8058)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import psycopg

from gateway.unsubscribe import sign
from tests.gateway.conftest import make_token
from gateway.settings import GatewaySettings

INVOICE = {"description": "invoice ready",
           "parts": {"email": {"default": {"subject": "Invoice {{ invoice.number }}", "text": "Total {{ invoice.total }}"}}},
           "sample": {"invoice": {"number": "INV-1", "total": 12.5}}}


def test_templates_create_read_change_list(gateway, pipeline):
    admin = make_token(scopes=["admin:templates"])
    created = gateway.request("PUT", "/v1/templates/invoice", admin, json=INVOICE)
    assert created.status_code == 200 and created.json() == {"name": "invoice", "version": 1, "changed": True}
    same = gateway.request("PUT", "/v1/templates/invoice", admin, json=INVOICE)
    assert same.json() == {"name": "invoice", "version": 1, "changed": False}
    changed = {**INVOICE, "parts": {"email": {"default": {"subject": "Your invoice {{ invoice.number }}"}}}}
    assert gateway.request("PUT", "/v1/templates/invoice", admin, json=changed).json()["version"] == 2
    latest = gateway.request("GET", "/v1/templates/invoice", admin).json()
    assert latest["version"] == 2 and latest["parts"] == changed["parts"]
    first = gateway.request("GET", "/v1/templates/invoice", admin, params={"version": 1}).json()
    assert first["parts"] == INVOICE["parts"]
    listed = gateway.request("GET", "/v1/templates", admin).json()
    assert [(t["name"], t["latest_version"], t["versions"]) for t in listed] == [("invoice", 2, 2)]
    assert gateway.request("GET", "/v1/templates/nothing", admin).status_code == 404
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT name, version FROM templates ORDER BY version").fetchall() == [
            ("invoice", 1), ("invoice", 2)]


def test_deleting_a_template_retires_it_and_a_later_push_continues_the_numbers(gateway, pipeline):
    admin = make_token(scopes=["admin:templates"])
    gateway.request("PUT", "/v1/templates/invoice", admin, json=INVOICE)
    assert gateway.request("DELETE", "/v1/templates/invoice", make_token(scopes=["send:email"])).status_code == 403
    assert gateway.request("DELETE", "/v1/templates/invoice", admin).status_code == 204
    assert gateway.request("DELETE", "/v1/templates/invoice", admin).status_code == 404
    assert gateway.request("GET", "/v1/templates/invoice", admin).status_code == 404
    assert gateway.request("GET", "/v1/templates", admin).json() == []
    pinned = gateway.request("GET", "/v1/templates/invoice", admin, params={"version": 1})
    assert pinned.status_code == 200 and pinned.json()["version"] == 1  # pinned events still render
    again = gateway.request("PUT", "/v1/templates/invoice", admin, json=INVOICE)
    assert again.json() == {"name": "invoice", "version": 2, "changed": True}
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT version, retired_at IS NOT NULL FROM templates ORDER BY version").fetchall() == [
            (1, True), (2, False)]
        audited = conn.execute("SELECT action, target, outcome FROM audit_log WHERE action LIKE 'templates.delete%%' "
                               "ORDER BY id").fetchall()
    assert [(a[0], a[2]) for a in audited] == [("templates.delete", "forbidden"), ("templates.delete", "ok"),
                                               ("templates.delete", "rejected")]


def test_a_template_that_does_not_render_is_refused_whole(gateway, pipeline):
    admin = make_token(scopes=["admin:templates"])
    broken = {"name": "broken", "parts": {"email": {"default": {"subject": "{{ unclosed"}}}}
    response = gateway.request("POST", "/v1/templates", admin, json=[{**INVOICE, "name": "fine"}, broken])
    assert response.status_code == 422 and "broken" in response.json()["error"]
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM templates").fetchone()[0] == 0


def test_recipients_and_preferences(gateway, pipeline):
    admin = make_token(scopes=["admin:preferences"])
    put = gateway.request("PUT", "/v1/recipients/user-42", admin,
                          json={"email": "ada@example.com", "locale": "en-GB", "timezone": "Europe/London"})
    assert put.status_code == 200 and put.json()["email"] == "ada@example.com"
    bad = gateway.request("PUT", "/v1/recipients/user-42", admin, json={"phone": "555-1234"})
    assert bad.status_code == 422 and bad.json()["field"] == "phone"
    assert gateway.request("GET", "/v1/recipients/user-42", admin).json()["timezone"] == "Europe/London"
    assert gateway.request("GET", "/v1/recipients/nobody", admin).status_code == 404
    prefs = gateway.request("PUT", "/v1/recipients/user-42/preferences", admin,
                            json=[{"enabled": False, "channel": "sms"}, {"enabled": False, "category": "marketing"}])
    assert prefs.status_code == 200, prefs.text
    wrong = gateway.request("PUT", "/v1/recipients/user-42/preferences", admin, json={"enabled": "no"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "enabled"
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT addresses->>'email' FROM recipients WHERE id = 'user-42'"
                            ).fetchone() == ("ada@example.com",)
        assert sorted(conn.execute("SELECT channel, category, enabled, source FROM preferences").fetchall()) == [
            ("*", "marketing", False, "api"), ("sms", "*", False, "api")]
    shown = gateway.request("GET", "/v1/recipients/user-42/preferences", admin).json()
    assert {(p["channel"], p["category"]) for p in shown} == {("sms", "*"), ("*", "marketing")}
    assert gateway.request("DELETE", "/v1/recipients/user-42", admin).status_code == 204
    assert gateway.request("GET", "/v1/recipients/user-42", admin).status_code == 404
    assert gateway.request("DELETE", "/v1/recipients/user-42", admin).status_code == 404
    kept = gateway.request("GET", "/v1/recipients/user-42/preferences", admin).json()
    assert len(kept) == 2  # deleting a recipient never re-subscribes them


def test_one_click_unsubscribe_writes_the_preference(gateway, pipeline):
    link = gateway.request("POST", "/v1/unsubscribe-links", make_token(scopes=["admin:preferences"]),
                           json={"recipient_id": "user-7", "channel": "email", "category": "newsletter"})
    assert link.status_code == 200
    url = urlsplit(link.json()["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "tidings.example.com", "/v1/unsubscribe")
    token = parse_qs(url.query)["token"][0]
    page = gateway.request("GET", "/v1/unsubscribe", params={"token": token})
    assert page.status_code == 200 and "<form method=post" in page.text
    with psycopg.connect(pipeline.database_url) as conn:  # showing the page changes nothing
        assert conn.execute("SELECT count(*) FROM preferences").fetchone()[0] == 0
    # What a mail provider sends (RFC 8058): a form POST of List-Unsubscribe=One-Click, no credentials.
    done = gateway.request("POST", "/v1/unsubscribe", params={"token": token},
                           content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200, done.text
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT recipient_id, channel, category, enabled, source FROM preferences").fetchall() == [
            ("user-7", "email", "newsletter", False, "unsubscribe")]
        assert conn.execute("SELECT principal, action, outcome FROM audit_log WHERE action LIKE 'unsubscribe.one%'"
                            ).fetchall() == [("unsubscribe:user-7", "unsubscribe.one_click", "ok")]


def test_unsubscribe_tokens_must_be_ours_and_fresh(gateway, pipeline):
    secret = gateway.settings.section(GatewaySettings).gateway_unsubscribe_secret.get_secret_value()
    long_ago = datetime.now(timezone.utc) - timedelta(days=60)
    expired, _ = sign(secret, "user-7", None, None, long_ago, ttl_s=86400)
    forged, _ = sign("not-the-secret-but-long-enough-1234", "user-7", None, None, datetime.now(timezone.utc), 3600)
    assert gateway.request("POST", "/v1/unsubscribe", params={"token": expired}).status_code == 410
    assert gateway.request("POST", "/v1/unsubscribe", params={"token": forged}).status_code == 400
    assert gateway.request("POST", "/v1/unsubscribe", params={"token": "garbage"}).status_code == 400
    assert gateway.request("POST", "/v1/unsubscribe").status_code == 422
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM preferences").fetchone()[0] == 0
