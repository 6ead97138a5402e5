"""The JSON form of a notification: valid input becomes the Avro record, invalid input is named."""
import json
from datetime import datetime, timezone

import pytest

from consumer.codec import Codec, LocalSchemas
from consumer.events import NOTIFICATION
from consumer.notification_json import InvalidNotification, notification_from_json

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
MINIMAL = {"source": "billing", "channels": ["webhook"], "recipient": {"id": "u1", "webhook_url": "https://example.com/h"}}


def test_minimal_json_gets_defaults_and_encodes():
    record = notification_from_json(MINIMAL, clock=lambda: NOW)
    assert record["priority"] == "NORMAL" and record["created_at"] == NOW
    assert record["tenant"] == "default" and record["data"] == "{}"
    assert len(record["id"]) == 36
    Codec(LocalSchemas()).encode(NOTIFICATION, record)


def test_full_json():
    record = notification_from_json({
        **MINIMAL, "id": "2f1e1e4c-4a8e-4b57-9d5e-0f6bd7a1c001", "priority": "URGENT", "tenant": "acme",
        "category": "security", "expires_at": "2026-11-25T13:00:00Z", "idempotency_key": "reset-42",
        "content": {"webhook": {"template": {"name": "reset", "version": 2}}, "default": {"text": "hi"}},
        "data": {"user": {"name": "Ada"}, "codes": [1, 2]},
    })
    assert record["priority"] == "URGENT"
    assert record["expires_at"] == datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)
    assert record["content"]["webhook"]["template"] == {"name": "reset", "version": 2}
    assert json.loads(record["data"]) == {"user": {"name": "Ada"}, "codes": [1, 2]}


@pytest.mark.parametrize("change, message", [
    ({"priority": "asap"}, "priority"),
    ({"channels": []}, "channels"),
    ({"channels": ["fax"]}, "unknown channel"),
    ({"channels": ["webhook", "webhook"]}, "twice"),
    ({"recipient": {"email": "a@b.c"}}, "recipient"),
    ({"source": None}, "source: required"),
    ({"id": "nope"}, "not a UUID"),
    ({"expires_at": "tomorrow"}, "ISO 8601"),
    ({"expires_at": "2026-11-25T13:00:00"}, "no timezone"),
    ({"data": [1]}, "data"),
    ({"content": {"fax": {}}}, "content"),
    ({"colour": "red"}, "unknown field"),
])
def test_invalid_json_names_the_field(change, message):
    with pytest.raises(InvalidNotification, match=message):
        notification_from_json({**MINIMAL, **change})
