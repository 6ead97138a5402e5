"""Input hygiene at the gateway: NUL and other control characters where a field's rule refuses them
are a malformed request (400, the field named), and nothing reaches Kafka or Postgres. Once, a NUL
in `tenant` was answered 202 and then stopped the sink that could not store it."""
from __future__ import annotations

import json

import psycopg

from tests.gateway.conftest import make_token
from tests.gateway.test_notifications import ONE, events_on

PRIORITIES = ("urgent", "high", "normal", "low")


def post_raw(gateway, path: str, token: str, text: str, method: str = "POST"):
    """The body as written, escapes included ("\\u0000", "\\ud800" stay JSON escapes on the wire)."""
    return gateway.request(method, path, token, content=text.encode("ascii"),
                           headers={"Content-Type": "application/json"})


def test_a_nul_in_a_notification_is_a_400_naming_the_field_and_nothing_is_published(gateway):
    token = make_token()
    cases = [
        ({**ONE, "tenant": "acme\u0000"}, "tenant", "tenant: contains a control character (U+0000) at position 5"),
        ({**ONE, "recipient": {"id": "ab\u0000c", "email": "ada@example.com"}}, "recipient.id",
         "recipient.id: contains a control character (U+0000) at position 3"),
        ({**ONE, "idempotency_key": "k\u0000"}, "idempotency_key", None),
        ({**ONE, "category": "alert\u0085"}, "category", None),  # C1
        ({**ONE, "content": {"default": {"subject": "Hi\r\nBcc: eve@example.com"}}}, "content.default.subject", None),
        ({**ONE, "content": {"email": {"text": "a\u0000b"}}}, "content.email.text", None),
        ({**ONE, "content": {"email": {"template": "invoice\u0007"}}}, "content.email.template", None),
        ({**ONE, "content": {"email": {"options": {"cc": ["\u0000"]}}}}, "content.email.options.cc[0]", None),
        ({**ONE, "data": {"invoice": {"number": "INV\u0000"}}}, "data.invoice.number",
         "data.invoice.number: contains a control character (U+0000) at position 4"),
        ([ONE, {**ONE, "source": "x", "recipient": {"id": "u\u001b"}}], "[1].recipient.id",
         "[1]: recipient.id: contains a control character (U+001B) at position 2"),
    ]
    for body, field, message in cases:
        response = gateway.request("POST", "/v1/notifications", token, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field, response.text
        if message:
            assert response.json()["error"] == message
    # An unpaired surrogate cannot be encoded at all: 400, where it was a 500.
    surrogate = post_raw(gateway, "/v1/notifications", token, json.dumps(ONE).replace("user-1", "user-\\ud800"))
    assert surrogate.status_code == 400, surrogate.text
    assert surrogate.json()["error"] == "recipient.id: contains an unpaired surrogate (U+D800) at position 6"
    assert all(events_on(gateway, p) == [] for p in PRIORITIES)


def test_tabs_and_line_breaks_in_bodies_and_controls_in_data_are_kept(gateway):
    body = {**ONE, "content": {"default": {"subject": "Invoice", "text": "Total:\t12\r\nThanks\n",
                                           "html": "<p>\n\tTotal</p>"}},
            "data": {"escape": "\u001b[1m", "del": "\u007f"}}
    response = gateway.request("POST", "/v1/notifications", make_token(), json=body)
    assert response.status_code == 202, response.text
    [event] = events_on(gateway, "high")
    assert event["content"]["default"]["text"] == "Total:\t12\r\nThanks\n"
    assert json.loads(event["data"]) == {"escape": "\u001b[1m", "del": "\u007f"}


def test_a_long_channel_list_is_refused_with_a_clear_error(gateway):
    response = gateway.request("POST", "/v1/notifications", make_token(), json={**ONE, "channels": ["email"] * 200})
    assert response.status_code == 422 and response.json()["field"] == "channels"
    assert response.json()["error"] == "channels: 200 names listed; at most 16, each channel once"
    assert events_on(gateway, "high") == []


def test_the_directory_and_preferences_refuse_control_characters(gateway, pipeline):
    admin = make_token(scopes=["admin:preferences"])
    cases = [
        ("PUT", "/v1/recipients/u1", {"email": "ada@example.com\u0000"}, "email"),
        ("PUT", "/v1/recipients/u1", {"locale": "pt\u0001"}, "locale"),
        ("PUT", "/v1/recipients/u1", {"slack": "C0\u0000DB"}, "slack"),
        ("PUT", "/v1/recipients/u%00x", {"email": "ada@example.com"}, "recipient_id"),
        ("PUT", "/v1/recipients/u1/preferences", {"enabled": False, "category": "mark\u0000eting"}, "category"),
        ("PUT", "/v1/recipients/u1/preferences", [{"enabled": False, "category": "news\u0002"}], "category"),
        ("PUT", "/v1/recipients/u%00x/preferences", {"enabled": False}, "recipient_id"),
        ("GET", "/v1/recipients/u%00x", None, "recipient_id"),
        ("DELETE", "/v1/recipients/u%00x", None, "recipient_id"),
    ]
    for method, path, body, field in cases:
        response = gateway.request(method, path, admin, **({"json": body} if body is not None else {}))
        assert response.status_code == 400, (method, path, body, response.text)
        assert response.json()["field"] == field, response.text
        assert "contains a control character" in response.json()["error"]
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM recipients").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM preferences").fetchone()[0] == 0
    kept = gateway.request("PUT", "/v1/recipients/u1", admin, json={"email": "ada@example.com", "locale": "pt-BR"})
    assert kept.status_code == 200 and kept.json()["email"] == "ada@example.com"


def test_a_nul_anywhere_in_a_template_is_refused_with_its_path(gateway, pipeline):
    admin = make_token(scopes=["admin:templates"])
    template = {"description": "invoice", "parts": {"email": {"default": {"subject": "Invoice", "text": "Total\u0000"}}},
                "sample": {}}
    response = gateway.request("PUT", "/v1/templates/invoice", admin, json=template)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "parts.email.default.text: contains a control character (U+0000) at position 6",
                               "field": "parts.email.default.text"}
    sample = gateway.request("POST", "/v1/templates", admin, json=[{
        "name": "welcome", "parts": {"email": {"default": {"text": "Hi {{ name }}"}}}, "sample": {"na\u0000me": "x"}}])
    assert sample.status_code == 400 and sample.json()["field"] == "[0].sample", sample.text
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM templates").fetchone()[0] == 0
