"""/v1/recipients/{id}/devices over HTTP: register (by address or push's parts), list, remove,
through the same device directory as the CLI and the router (what Postgres holds afterwards), each
call audited against the recipient."""
from __future__ import annotations

import psycopg

from tests.gateway.conftest import make_token

FCM_TOKEN = "dQw4w9WgXcQ:APA91bH" + "x7_-" * 35
APNS_TOKEN = "AB" * 32
FCM = f"fcm:com.example.app:{FCM_TOKEN}"
APNS = f"apns:com.example.App:{APNS_TOKEN.lower()}"
DEVICES = "/v1/recipients/user-42/devices"


def stored(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT recipient_id, channel, address FROM recipient_devices "
                            "ORDER BY recipient_id, address").fetchall()


def test_register_list_move_and_remove_devices(gateway, pipeline):
    admin = make_token("ops", scopes=["admin:preferences"])
    created = gateway.request("POST", DEVICES, admin, json={"channel": "push", "address": FCM})
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"channel", "address", "added_at"}
    assert created.json()["address"] == FCM
    parts = gateway.request("POST", DEVICES, admin, json={"channel": "push", "platform": "apns",
                                                          "app": "com.example.App", "token": APNS_TOKEN})
    assert parts.status_code == 201 and parts.json()["address"] == APNS  # APNs tokens are stored lower-case
    listed = gateway.request("GET", DEVICES, admin)
    assert listed.status_code == 200
    assert [(d["channel"], d["address"]) for d in listed.json()] == [("push", FCM), ("push", APNS)]
    assert listed.json()[0] == created.json()
    assert gateway.request("GET", "/v1/recipients/nobody/devices", admin).json() == []

    moved = gateway.request("POST", "/v1/recipients/user-7/devices", admin, json={"channel": "push", "address": FCM})
    assert moved.status_code == 201
    assert stored(pipeline.database_url) == [("user-42", "push", APNS), ("user-7", "push", FCM)]

    gone = gateway.request("DELETE", DEVICES, admin, params={"channel": "push", "address": FCM})
    assert gone.status_code == 404 and gone.json()["field"] == "address"  # it is user-7's now
    upper = f"apns:com.example.App:{APNS_TOKEN}"  # as the app reported it: normalised like a registration
    assert gateway.request("DELETE", DEVICES, admin, params={"channel": "push", "address": upper}).status_code == 204
    assert gateway.request("DELETE", DEVICES, admin, params={"channel": "push", "address": APNS}).status_code == 404
    assert gateway.request("DELETE", DEVICES, admin, params={"channel": "email", "address": "a@b.c"}).status_code == 404
    assert stored(pipeline.database_url) == [("user-7", "push", FCM)]

    with psycopg.connect(pipeline.database_url) as conn:
        audited = conn.execute("SELECT principal, action, target, outcome FROM audit_log ORDER BY id").fetchall()
    assert audited == [("ops", "devices.add", "user-42", "ok"), ("ops", "devices.add", "user-42", "ok"),
                       ("ops", "devices.add", "user-7", "ok"), ("ops", "devices.delete", "user-42", "rejected"),
                       ("ops", "devices.delete", "user-42", "ok"), ("ops", "devices.delete", "user-42", "rejected"),
                       ("ops", "devices.delete", "user-42", "rejected")]


def test_invalid_devices_are_422_naming_the_field_and_nothing_is_stored(gateway, pipeline):
    admin = make_token(scopes=["admin:preferences"])
    cases = [
        ({"channel": "push", "address": "web:com.example.app:" + FCM_TOKEN}, "address", "push platform 'web'"),
        ({"channel": "push", "address": "apns:com.example.App:not-hex"}, "address", "64-200 hexadecimal digits"),
        ({"channel": "push", "platform": "web", "app": "com.example.app", "token": FCM_TOKEN}, "platform",
         "push platform 'web' is not one of fcm, apns, apns-sandbox"),
        ({"channel": "push", "platform": "fcm", "app": "com example", "token": FCM_TOKEN}, "app", "push app"),
        ({"channel": "push", "platform": "fcm", "app": "com.example.app", "token": "short"}, "token",
         "an FCM registration token"),
        ({"channel": "push", "platform": "fcm", "app": "com.example.app"}, "token", "token: required"),
        ({"channel": "push", "address": FCM, "token": FCM_TOKEN}, "token", "not both"),
        ({"channel": "email", "address": "ada@example.com"}, "channel", "channel 'email' has no devices"),
        ({"channel": "fax", "address": FCM}, "channel", "channel 'fax' has no devices"),
        ({"channel": "email", "platform": "fcm", "app": "a", "token": FCM_TOKEN}, "platform", "only for channel push"),
        ({"address": FCM}, "channel", "channel: required"),
        ({"channel": "push"}, "platform", "platform: required (or give address)"),
        ({"channel": "push", "address": 7}, "address", "address: expected a string"),
        ({"channel": "push", "address": FCM, "label": "phone"}, "label", "unknown field(s): label"),
    ]
    for body, field, message in cases:
        response = gateway.request("POST", DEVICES, admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.text)
        assert message is None or message in response.json()["error"], (body, response.text)
    not_an_object = gateway.request("POST", DEVICES, admin, json=[{"channel": "push", "address": FCM}])
    assert not_an_object.status_code == 422
    assert stored(pipeline.database_url) == []


def test_control_characters_are_400_naming_the_field(gateway, pipeline):
    admin = make_token(scopes=["admin:preferences"])
    cases = [
        ("POST", DEVICES, {"json": {"channel": "push", "address": FCM + "\u0001"}}, "address"),
        ("POST", DEVICES, {"json": {"channel": "push", "address": FCM + "\u0000"}}, "address"),
        ("POST", DEVICES, {"json": {"channel": "push", "platform": "fcm", "app": "com.example\u0085",
                                    "token": FCM_TOKEN}}, "app"),
        ("POST", "/v1/recipients/u%00x/devices", {"json": {"channel": "push", "address": FCM}}, "recipient_id"),
        ("GET", "/v1/recipients/u%01x/devices", {}, "recipient_id"),
        ("DELETE", DEVICES, {"params": {"channel": "push", "address": FCM + "\u0000"}}, "address"),
        ("DELETE", DEVICES, {"params": {"channel": "pu\u0007sh", "address": FCM}}, "channel"),
    ]
    for method, path, kwargs, field in cases:
        response = gateway.request(method, path, admin, **kwargs)
        assert response.status_code == 400, (method, path, kwargs, response.text)
        assert response.json()["field"] == field, response.text
        assert "contains a control character" in response.json()["error"]
    assert stored(pipeline.database_url) == []


def test_devices_need_admin_preferences_for_every_tenant(gateway, pipeline):
    body = {"channel": "push", "address": FCM}
    assert gateway.request("POST", DEVICES, json=body).status_code == 401
    assert gateway.request("GET", DEVICES).status_code == 401
    for token in (make_token(scopes=["send:email", "read", "admin:templates"]),
                  make_token(scopes=["admin:preferences"], tenants=["acme"])):
        assert gateway.request("POST", DEVICES, token, json=body).status_code == 403
        assert gateway.request("GET", DEVICES, token).status_code == 403
        assert gateway.request("DELETE", DEVICES, token, params=body).status_code == 403
    assert stored(pipeline.database_url) == []
    missing = gateway.request("DELETE", DEVICES, make_token(scopes=["admin:preferences"]), params={"channel": "push"})
    assert missing.status_code == 422 and missing.json()["field"] == "address"


def test_the_openapi_document_describes_the_device_body(gateway):
    document = gateway.request("GET", "/openapi.json").json()
    operations = document["paths"]["/v1/recipients/{recipient_id}/devices"]
    assert set(operations) == {"get", "post", "delete"}
    by_address, by_parts = operations["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert by_address["required"] == ["channel", "address"] and by_address["properties"]["channel"]["enum"] == ["push"]
    assert set(by_parts["required"]) == {"channel", "platform", "app", "token"}
    assert by_parts["properties"]["platform"]["enum"] == ["fcm", "apns", "apns-sandbox"]
    assert {p["name"] for p in operations["delete"]["parameters"]} == {"recipient_id", "channel", "address"}
