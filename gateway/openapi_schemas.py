"""JSON Schemas of the request bodies the gateway reads itself (so that its own validators, shared
with `tidings publish` and the CLI, give the errors), for the OpenAPI document. The notification and
recipient bodies are the contract models' own schemas (consumer/notification_model.py,
consumer/recipient_model.py), added to the document's components when it is first served."""
from __future__ import annotations

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from channels.push.device import PLATFORMS
from consumer.channel_specs import channel_names
from consumer.notification_model import notification_request_model
from consumer.recipient_model import recipient_fields_model
from router.devices import device_channels
from router.suppressions import REASONS

_TEXT = {"type": "string", "minLength": 1}
_COMPONENTS = "#/components/schemas/"


def contract_schemas(max_batch: int) -> dict[str, dict]:
    """The contract models' schemas by name, as components.schemas holds them (their references
    point there): NotificationRequest (one notification or up to `max_batch`), RecipientFields, and
    every model they use (Notification, Recipient, each channel's options, ...)."""
    _, schemas = models_json_schema([(notification_request_model(max_batch), "validation"),
                                     (recipient_fields_model(), "validation")], ref_template=_COMPONENTS + "{model}")
    return schemas["$defs"]


def install(app: FastAPI, max_batch: int) -> None:
    """Serve the app's OpenAPI document with the contract models' schemas among its components."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = generate()  # FastAPI keeps it as app.openapi_schema
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in contract_schemas(max_batch).items():
                if components.setdefault(name, schema) != schema:
                    raise RuntimeError(f"two OpenAPI schemas are named {name}")
        return app.openapi_schema

    app.openapi = openapi


def body(schema: dict, description: str) -> dict:
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


NOTIFICATION_BODY = body({"$ref": _COMPONENTS + "NotificationRequest"},
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

RECIPIENT_BODY = body({"$ref": _COMPONENTS + "RecipientFields"},
                      "the fields to set (null clears one; absent ones are kept)")

_DEVICE_CHANNEL = {"type": "string", "enum": list(device_channels())}
DEVICE_BODY = body({"oneOf": [
    {"type": "object", "required": ["channel", "address"], "additionalProperties": False, "properties": {
        "channel": _DEVICE_CHANNEL,
        "address": {**_TEXT, "description": "push: <platform>:<app>:<token>, e.g. fcm:com.example.app:<token>"}}},
    {"type": "object", "required": ["channel", "platform", "app", "token"], "additionalProperties": False,
     "properties": {"channel": {"type": "string", "enum": ["push"]},
                    "platform": {"type": "string", "enum": list(PLATFORMS)},
                    "app": {**_TEXT, "description": "the Android package or the iOS bundle id"},
                    "token": {**_TEXT, "description": "the registration (FCM) or device (APNs) token"}}}]},
    "one device: its address, or (push) the parts of it; registering a device of another recipient moves it")

SUPPRESSION_BODY = body({"type": "object", "required": ["channel", "address"], "additionalProperties": False,
                         "properties": {
    "tenant": {**_TEXT, "description": "whose list: the token's tenant when it acts for one, else `default`"},
    "channel": {"type": "string", "enum": list(channel_names())},
    "address": {**_TEXT, "description": "as the channel takes it; stored normalised (E.164, lower-case domain)"},
    "reason": {"type": "string", "enum": list(REASONS), "default": "manual"},
    "detail": {"type": "string", "maxLength": 1000, "description": "a note kept with it"}}},
    "an address the tenant no longer sends to")
SUPPRESSION = {"type": "object", "required": ["tenant", "channel", "address", "reason", "source", "created_at"],
               "properties": {"tenant": {"type": "string"}, "channel": {"type": "string"},
                              "address": {"type": "string"}, "reason": {"type": "string", "enum": list(REASONS)},
                              "source": {"type": "string", "description": "provider:<name>, api:<subject> or cli"},
                              "detail": {"type": ["string", "null"]},
                              "created_at": {"type": "string", "format": "date-time"}}}

PREFERENCE = {"type": "object", "required": ["enabled"], "additionalProperties": False, "properties": {
    "enabled": {"type": "boolean"}, "channel": {"type": "string", "enum": list(channel_names())},
    "category": {"type": "string", "minLength": 1}}}
PREFERENCES_BODY = body({"oneOf": [PREFERENCE, {"type": "array", "items": PREFERENCE, "minItems": 1}]},
                        "one preference or an array; no channel / category means any")

QUIET_HOURS = {"type": "object", "required": ["windows"], "additionalProperties": False, "properties": {
    "channel": {"type": "string", "enum": list(channel_names()), "description": "left out: every channel without "
                                                                                 "windows of its own"},
    "windows": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1}, "description": (
        "DAYS [HH:MM-HH:MM] in the recipient's time zone, e.g. \"mon-fri 22:00-07:00\", \"sat-sun\" (all day); "
        "null forgets the channel's windows, [] makes it never quiet")}}}
QUIET_HOURS_BODY = body({"oneOf": [QUIET_HOURS, {"type": "array", "items": QUIET_HOURS, "minItems": 1}]},
                        "one channel's quiet windows or an array; each replaces that channel's windows")

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
