"""/v1/suppressions over HTTP: add (normalised), list (paged, only the token's tenants), remove,
through the same suppression list as the CLI and the router (what Postgres holds afterwards), each
change audited."""
from __future__ import annotations

from datetime import datetime

import psycopg

from tests.gateway.conftest import make_token

PATH = "/v1/suppressions"


def stored(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT tenant, channel, address, reason, source, detail FROM suppressions "
                            "ORDER BY tenant, channel, address").fetchall()


def test_add_list_and_remove_suppressions(gateway, pipeline):
    ops = make_token("ops", scopes=["admin:suppressions"])
    created = gateway.request("POST", PATH, ops, json={"tenant": "acme", "channel": "sms", "address": "+1 415 555 0100",
                                                      "reason": "unreachable", "detail": "carrier said: unknown"})
    assert created.status_code == 201, created.text
    row = created.json()
    assert {k: row[k] for k in ("tenant", "channel", "address", "reason", "source", "detail")} == {
        "tenant": "acme", "channel": "sms", "address": "+14155550100", "reason": "unreachable", "source": "api:ops",
        "detail": "carrier said: unknown"}
    assert datetime.fromisoformat(row["created_at"]) == gateway.clock.now  # the gateway's clock
    again = gateway.request("POST", PATH, ops, json={"tenant": "acme", "channel": "sms", "address": "+14155550100",
                                                    "reason": "complaint"})
    assert again.status_code == 200 and again.json() == row  # listed already: the first reason stands
    default = gateway.request("POST", PATH, ops, json={"channel": "email", "address": "ada@Example.COM"})
    assert default.status_code == 201 and (default.json()["tenant"], default.json()["address"]) == (
        "default", "ada@example.com")
    assert stored(pipeline.database_url) == [
        ("acme", "sms", "+14155550100", "unreachable", "api:ops", "carrier said: unknown"),
        ("default", "email", "ada@example.com", "manual", "api:ops", None)]

    listed = gateway.request("GET", PATH, ops)
    assert listed.status_code == 200
    assert [r["address"] for r in listed.json()["suppressions"]] == ["ada@example.com", "+14155550100"]
    assert listed.json()["next"] is None
    page = gateway.request("GET", PATH, ops, params={"limit": 1})
    assert [r["address"] for r in page.json()["suppressions"]] == ["ada@example.com"]
    following = gateway.request("GET", page.json()["next"], ops)
    assert [r["address"] for r in following.json()["suppressions"]] == ["+14155550100"]
    assert following.json()["next"] is None
    one = gateway.request("GET", PATH, ops, params={"channel": "sms", "address": "+1-415-555-0100"})
    assert [r["tenant"] for r in one.json()["suppressions"]] == ["acme"]
    assert gateway.request("GET", PATH, ops, params={"tenant": "globex"}).json()["suppressions"] == []

    elsewhere = gateway.request("DELETE", PATH, ops, params={"channel": "sms", "address": "+14155550100"})
    assert elsewhere.status_code == 404 and elsewhere.json()["field"] == "address"  # the default tenant's list
    removed = gateway.request("DELETE", PATH, ops, params={"tenant": "acme", "channel": "sms",
                                                          "address": "+1 415 555 0100"})
    assert removed.status_code == 204, removed.text
    assert gateway.request("DELETE", PATH, ops, params={"channel": "fax", "address": "1"}).status_code == 404
    assert stored(pipeline.database_url) == [("default", "email", "ada@example.com", "manual", "api:ops", None)]

    with psycopg.connect(pipeline.database_url) as conn:
        audited = conn.execute("SELECT principal, action, target, outcome FROM audit_log ORDER BY id").fetchall()
    assert audited == [("ops", "suppressions.add", "acme sms +1 415 555 0100", "ok"),
                       ("ops", "suppressions.add", "acme sms +14155550100", "ok"),
                       ("ops", "suppressions.add", "default email ada@Example.COM", "ok"),
                       ("ops", "suppressions.remove", "default sms +14155550100", "rejected"),
                       ("ops", "suppressions.remove", "acme sms +1 415 555 0100", "ok"),
                       ("ops", "suppressions.remove", "default fax 1", "rejected")]


def test_a_token_sees_and_changes_only_its_tenants_lists(gateway, pipeline):
    everyone = make_token("ops", scopes=["admin:suppressions"])
    for tenant in ("acme", "globex"):
        assert gateway.request("POST", PATH, everyone, json={"tenant": tenant, "channel": "email",
                                                             "address": f"x@{tenant}.test"}).status_code == 201
    acme = make_token("acme-ops", scopes=["admin:suppressions"], tenants=["acme"])
    assert [r["tenant"] for r in gateway.request("GET", PATH, acme).json()["suppressions"]] == ["acme"]
    for refused in (gateway.request("GET", PATH, acme, params={"tenant": "globex"}),
                    gateway.request("POST", PATH, acme, json={"tenant": "globex", "channel": "email",
                                                              "address": "y@globex.test"}),
                    gateway.request("DELETE", PATH, acme, params={"tenant": "globex", "channel": "email",
                                                                  "address": "x@globex.test"})):
        assert refused.status_code == 403 and refused.json()["field"] == "tenant", refused.text
    # A one-tenant token need not name it.
    own = gateway.request("POST", PATH, acme, json={"channel": "email", "address": "y@acme.test"})
    assert own.status_code == 201 and own.json()["tenant"] == "acme"
    assert gateway.request("DELETE", PATH, acme, params={"channel": "email", "address": "x@acme.test"}).status_code == 204
    assert [(t, a) for t, _, a, *_ in stored(pipeline.database_url)] == [("acme", "y@acme.test"),
                                                                        ("globex", "x@globex.test")]

    assert gateway.request("GET", PATH).status_code == 401
    wrong_scope = make_token(scopes=["admin:preferences", "read"])
    assert gateway.request("GET", PATH, wrong_scope).status_code == 403
    assert gateway.request("POST", PATH, wrong_scope, json={"channel": "email", "address": "z@z.test"}).status_code == 403
    assert len(stored(pipeline.database_url)) == 2


def test_invalid_suppressions_are_refused_naming_the_field_and_nothing_is_stored(gateway, pipeline):
    ops = make_token(scopes=["admin:suppressions"])
    cases = [
        ({"channel": "fax", "address": "1"}, 422, "channel", "channel: 'fax' is not one of"),
        ({"channel": "email", "address": "nope"}, 422, "address", "'nope' is not an address like"),
        ({"channel": "sms", "address": "4155550100"}, 422, "address", "international form"),
        ({"channel": "email"}, 422, "address", "address: required"),
        ({"address": "a@b.c"}, 422, "channel", "channel: required"),
        ({"channel": "email", "address": "a@b.c", "reason": "bored"}, 422, "reason", "reason: 'bored' is not one of"),
        ({"channel": "email", "address": "a@b.c", "tenant": 7}, 422, "tenant", "tenant: expected a string"),
        ({"channel": "email", "address": "a@b.c", "note": "x"}, 422, "note", "unknown field(s): note"),
        ({"channel": "email", "address": "a@b.c", "detail": "x" * 1001}, 422, "detail", "longer than 1000"),
        ({"channel": "email", "address": "a@b.c\r\nBcc: e@x.test"}, 400, "address", "control character"),
        ({"channel": "email", "address": "a@b.c", "tenant": "ac\u0000me"}, 400, "tenant", "control character"),
        ({"channel": "email", "address": "a@b.c", "detail": "a\u0007"}, 400, "detail", "control character"),
    ]
    for body, status, field, message in cases:
        response = gateway.request("POST", PATH, ops, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field and message in response.json()["error"], (body, response.text)
    assert gateway.request("POST", PATH, ops, json=[{"channel": "email", "address": "a@b.c"}]).status_code == 422
    for params in ({"channel": "email", "address": "a@b.c\u0000"}, {"channel": "email", "address": "a@b.c",
                                                                   "tenant": "a\u0001"}):
        assert gateway.request("DELETE", PATH, ops, params=params).status_code == 400
        assert gateway.request("GET", PATH, ops, params=params).status_code == 400
    assert gateway.request("GET", PATH, ops, params={"channel": "fax"}).status_code == 422
    assert gateway.request("GET", PATH, ops, params={"limit": 1001}).status_code == 422
    assert stored(pipeline.database_url) == []


def test_the_openapi_document_describes_the_suppression_body(gateway):
    document = gateway.request("GET", "/openapi.json").json()
    operations = document["paths"][PATH]
    assert set(operations) == {"get", "post", "delete"}
    schema = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["channel", "address"] and "tenant" in schema["properties"]
    assert schema["properties"]["reason"]["enum"] == ["hard_bounce", "complaint", "unreachable", "soft_bounces", "manual"]
    assert {p["name"] for p in operations["delete"]["parameters"]} == {"tenant", "channel", "address"}
