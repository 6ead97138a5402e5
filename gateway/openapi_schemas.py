"""JSON Schemas of the request bodies the gateway reads itself (so that its own validators, shared
with `tidings publish`, give the errors), for the OpenAPI document."""
from __future__ import annotations

from consumer.topics import PRIORITIES
from consumer.channel_specs import channel_names

_TEXT = {"type": "string", "minLength": 1}
# Channel name -> address; email, phone, slack and webhook_url are the same before the map existed.
_ADDRESSES = {"type": "object", "additionalProperties": False,
              "properties": {channel: _TEXT for channel in channel_names()}}
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
                      "properties": {"id": _TEXT, "addresses": _ADDRESSES, "email": _TEXT, "phone": _TEXT,
                                     "slack": _TEXT, "webhook_url": _TEXT, "locale": _TEXT, "timezone": _TEXT}},
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
    "addresses": {"type": "object", "additionalProperties": False,
                  "properties": {channel: {"type": ["string", "null"]} for channel in channel_names()}},
    **{key: {"type": ["string", "null"]} for key in ("email", "phone", "slack", "webhook_url", "locale", "timezone")}}}
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

_COUNT = {"type": "integer", "minimum": 0}
_SKIPPED = {"skipped_already_replayed": _COUNT, "skipped_already_sent": _COUNT, "skipped_no_original_topic": _COUNT}
DLQ_REPLAY_JOB = {"type": "object", "required": ["id", "state", "replayed", "failed", "failures"], "properties": {
    "id": {"type": "string", "format": "uuid"},
    "state": {"type": "string", "enum": ["queued", "running", "done", "failed"],
              "description": "failed: stopped early, interrupted, or some messages not replayed (see failures)"},
    "dry_run": {"type": "boolean", "enum": [False]}, "selection": {"type": "object"},
    "tenants": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string", "enum": ["*"]}]},
    "requested_by": {"type": ["string", "null"]}, "matching": {"type": ["integer", "null"]},
    "replayed": _COUNT, **_SKIPPED, "failed": _COUNT,
    "failures": {"type": "array", "items": {"type": "string"}, "description": "the first 100"},
    "error": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
    "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]}}}
DLQ_REPLAY_PLAN = {"type": "object", "properties": {
    "dry_run": {"type": "boolean", "enum": [True]}, "matching": _COUNT, "replayed": _COUNT, "would_replay": _COUNT,
    **_SKIPPED, "failures": {"type": "array", "items": {"type": "string"}}}}
DLQ_REPLAY_RESPONSES = {
    200: {"description": "dry_run: what the replay would do, counted at once; nothing changes",
          "content": {"application/json": {"schema": DLQ_REPLAY_PLAN}}},
    202: {"description": "the replay job, queued; Location names its status resource",
          "headers": {"Location": {"schema": {"type": "string"}, "description": "/v1/dlq/replays/{id}"}},
          "content": {"application/json": {"schema": DLQ_REPLAY_JOB}}},
    409: {"description": "this gateway process already has its limit of replays queued or running"}}
DLQ_REPLAY_JOB_RESPONSES = {
    200: {"description": "the replay job", "content": {"application/json": {"schema": DLQ_REPLAY_JOB}}},
    404: {"description": "no such job among those the token may see"}}

UNSUBSCRIBE_LINK_BODY = body({"type": "object", "required": ["recipient_id"], "properties": {
    "recipient_id": {"type": "string", "minLength": 1, "maxLength": 256},
    "channel": {"type": "string", "enum": list(channel_names())}, "category": {"type": "string", "minLength": 1}}},
    "whom the link unsubscribes; without channel / category, from everything")
