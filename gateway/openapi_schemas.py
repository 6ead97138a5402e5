"""JSON Schemas of the request bodies the gateway reads itself (so that its own validators, shared
with `tidings publish`, give the errors), for the OpenAPI document."""
from __future__ import annotations

from consumer.topics import PRIORITIES
from consumer.channel_specs import channel_names

_TEXT = {"type": "string", "minLength": 1}
_CONTENT = {"type": "object", "additionalProperties": False, "properties": {
    "subject": _TEXT, "text": _TEXT, "html": _TEXT, "options": {"type": "object"},
    "template": {"oneOf": [_TEXT, {"type": "object", "required": ["name"],
                                   "properties": {"name": _TEXT, "version": {"type": "integer"}}}]}}}

NOTIFICATION = {
    "type": "object", "required": ["channels", "recipient"], "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "created_at": {"type": "string", "format": "date-time"},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "source": {"type": "string", "description": "ignored: the token's subject is the source"},
        "tenant": _TEXT, "category": _TEXT,
        "channels": {"type": "array", "items": {"type": "string", "enum": list(channel_names())},
                     "minItems": 1, "uniqueItems": True},
        "recipient": {"type": "object", "required": ["id"], "additionalProperties": False,
                      "properties": {"id": _TEXT, "email": _TEXT, "phone": _TEXT, "slack": _TEXT,
                                     "webhook_url": _TEXT, "locale": _TEXT}},
        "content": {"type": "object", "additionalProperties": _CONTENT},
        "data": {"type": "object"},
        "expires_at": {"type": "string", "format": "date-time"},
        "idempotency_key": _TEXT,
    },
}


def body(schema: dict, description: str) -> dict:
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


NOTIFICATION_BODY = body({"oneOf": [NOTIFICATION, {"type": "array", "items": NOTIFICATION, "minItems": 1,
                                                   "maxItems": 500}]},
                         "one notification, or a batch as an array (up to TIDINGS_GATEWAY_MAX_BATCH)")

ALERTMANAGER_BODY = body({
    "type": "object", "required": ["version", "groupKey", "status", "alerts"],
    "properties": {
        "version": {"type": "string", "enum": ["4"]}, "groupKey": _TEXT, "truncatedAlerts": {"type": "integer"},
        "status": {"type": "string", "enum": ["firing", "resolved"]}, "receiver": {"type": "string"},
        "groupLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "commonLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "commonAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "externalURL": {"type": "string"},
        "alerts": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["status", "labels"],
            "properties": {"status": {"type": "string", "enum": ["firing", "resolved"]},
                           "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                           "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                           "startsAt": {"type": "string"}, "endsAt": {"type": "string"},
                           "generatorURL": {"type": "string"}, "fingerprint": {"type": "string"}}}},
    }}, "Alertmanager's webhook payload, version 4")

TEMPLATE = {"type": "object", "required": ["parts"], "properties": {
    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,127}$"},
    "description": {"type": "string"},
    "parts": {"type": "object", "description": "channel -> locale -> part -> Jinja source",
              "additionalProperties": {"type": "object", "additionalProperties": {
                  "type": "object", "additionalProperties": {"type": "string"}}}},
    "sample": {"type": "object", "description": "data every part must render"}}}
TEMPLATE_BODY = body(TEMPLATE, "a template (the name comes from the path)")
TEMPLATES_BODY = body({"oneOf": [TEMPLATE, {"type": "array", "items": TEMPLATE, "minItems": 1}]},
                      "one template or an array, stored all or nothing")

RECIPIENT = {"type": "object", "properties": {
    key: {"type": ["string", "null"]} for key in ("email", "phone", "slack", "webhook_url", "locale", "timezone")}}
RECIPIENT_BODY = body(RECIPIENT, "the fields to set (null clears one; absent ones are kept)")

PREFERENCE = {"type": "object", "required": ["enabled"], "additionalProperties": False, "properties": {
    "enabled": {"type": "boolean"}, "channel": {"type": "string", "enum": list(channel_names())},
    "category": {"type": "string", "minLength": 1}}}
PREFERENCES_BODY = body({"oneOf": [PREFERENCE, {"type": "array", "items": PREFERENCE, "minItems": 1}]},
                        "one preference or an array; no channel / category means any")

DLQ_REPLAY_BODY = body({"type": "object", "additionalProperties": False, "properties": {
    "channel": {"type": "string", "enum": list(channel_names())}, "error": {"type": "string"},
    "since": {"type": "string"}, "until": {"type": "string"}, "dry_run": {"type": "boolean"},
    "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000}}},
    "which dead letters to replay (all given criteria must hold); dry_run changes nothing")

UNSUBSCRIBE_LINK_BODY = body({"type": "object", "required": ["recipient_id"], "properties": {
    "recipient_id": {"type": "string", "minLength": 1, "maxLength": 256},
    "channel": {"type": "string", "enum": list(channel_names())}, "category": {"type": "string", "minLength": 1}}},
    "whom the link unsubscribes; without channel / category, from everything")
