"""The gateway's OpenAPI document is made of the contract models' JSON Schema (so the channel enum,
`recipient.timezone`, the options and the batch limit cannot drift from what is validated), and the
gateway validates options through the same models: 422 naming the field, nothing published."""
from __future__ import annotations

import json

from consumer.channel_specs import channel_names, registry
from consumer.notification_model import MAX_CHANNELS
from consumer.settings import Settings
from gateway.app import create_app
from gateway.openapi_schemas import contract_schemas
from tests.gateway.conftest import make_token
from tests.gateway.test_notifications import ONE, events_on


def openapi(**settings) -> dict:
    """The document as `tidings gateway openapi` makes it: no broker, no database reached."""
    return create_app(Settings(database_url="postgresql://unused", **settings)).openapi()


def resolved(document: dict, schema: dict) -> dict:
    """`schema`, or what its $ref (or the non-null branch of its anyOf) points to."""
    if "anyOf" in schema:
        [schema] = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_notification_schema_lists_every_channel_timezone_addresses_and_the_batch_limit():
    document = openapi(gateway_max_batch=7)
    body = document["paths"]["/v1/notifications"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    one, batch = resolved(document, body)["anyOf"]
    assert batch["type"] == "array" and (batch["minItems"], batch["maxItems"]) == (1, 7)
    notification = resolved(document, one)
    assert resolved(document, batch["items"]) == notification
    channels = notification["properties"]["channels"]
    assert channels["items"]["enum"] == list(channel_names()) and channels["maxItems"] == MAX_CHANNELS
    recipient = resolved(document, notification["properties"]["recipient"])
    assert {"id", "addresses", "timezone", "locale"} <= set(recipient["properties"])
    assert set(resolved(document, recipient["properties"]["addresses"])["properties"]) == set(channel_names())
    content = resolved(document, notification["properties"]["content"])
    assert set(content["properties"]) == {"default", *channel_names()}
    for name, spec in registry().items():
        options = resolved(document, resolved(document, content["properties"][name])["properties"]["options"])
        if spec.options is not None:
            assert set(options["properties"]) == set(spec.options.field_names()), name
            assert options["additionalProperties"] is False


def test_the_documents_schemas_are_the_models_own_and_follow_the_batch_setting():
    document = openapi()
    schemas = document["components"]["schemas"]
    assert {name: schemas[name] for name in contract_schemas(500)} == contract_schemas(500)
    assert schemas["NotificationRequest"]["anyOf"][1]["maxItems"] == 500
    put = document["paths"]["/v1/recipients/{recipient_id}"]["put"]["requestBody"]["content"]["application/json"]
    fields = resolved(document, put["schema"])
    assert {"addresses", "timezone", "locale", "email", "phone"} <= set(fields["properties"])
    assert "id" not in fields["properties"]  # the path names the recipient
    assert set(resolved(document, fields["properties"]["addresses"])["properties"]) == set(channel_names())
    json.dumps(document)  # served as JSON


def test_options_are_validated_by_the_channels_model_at_the_gateway(gateway):
    token = make_token()
    cases = [
        ({**ONE, "content": {"email": {"text": "hi", "options": {"cc": 5}}}}, "content.email.options.cc",
         "content.email.options.cc: expected an address or a list of addresses"),
        ({**ONE, "content": {"email": {"text": "hi", "options": {"reply-to": "a@example.com"}}}},
         "content.email.options", None),
        ([ONE, {**ONE, "content": {"webhook": {"options": {"method": "TRACE"}}}}], "[1].content.webhook.options.method",
         "[1]: content.webhook.options.method: 'TRACE' is not one of DELETE, GET, PATCH, POST, PUT"),
        ({**ONE, "content": {"default": {"options": {"cc": 5}}}}, "content.default.options.cc", None),
    ]
    for body, field, message in cases:
        response = gateway.request("POST", "/v1/notifications", token, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.text
        if message:
            assert response.json()["error"] == message
    assert events_on(gateway, "high") == []
    options = {"cc": ["grace@example.com"], "unsubscribe_url": "https://example.com/u/1"}
    accepted = gateway.request("POST", "/v1/notifications", token,
                               json={**ONE, "content": {"email": {"text": "hi", "options": options}}})
    assert accepted.status_code == 202, accepted.text
    [event] = events_on(gateway, "high")
    assert json.loads(event["content"]["email"]["options"]) == options
