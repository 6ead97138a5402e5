"""The JSON form of a notification: valid input becomes the Avro record, invalid input is named."""
import json
from datetime import datetime, timezone

import pytest

from consumer.codec import Codec, LocalSchemas
from consumer.events import NOTIFICATION
from consumer.notification_json import ForbiddenCharacter, InvalidNotification, notification_from_json

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


# Input hygiene: each field refuses the characters its rule names (consumer/text_rules.py), and
# the message names the field, the character and where it is.
@pytest.mark.parametrize("change, message", [
    ({"recipient": {"id": "ab\x00c"}}, r"^recipient\.id: contains a control character \(U\+0000\) at position 3$"),
    ({"id": "2f1e1e4c-4a8e-4b57-9d5e-0f6bd7a1c00\x00"}, r"^id: .*U\+0000"),
    ({"source": "bill\x07ing"}, r"^source: .*U\+0007\) at position 5$"),
    ({"tenant": "acme\x00"}, r"^tenant: .*U\+0000"),
    ({"tenant": "acme\x85"}, r"^tenant: .*U\+0085"),  # C1
    ({"category": "alert\x7f"}, r"^category: .*U\+007F"),  # DEL
    ({"idempotency_key": "order-1\r\n"}, r"^idempotency_key: .*U\+000D"),
    ({"priority": "high\x00"}, r"^priority: .*U\+0000"),
    ({"expires_at": "2026-11-25T13:00:00Z\x00"}, r"^expires_at: .*U\+0000"),
    ({"channels": ["web\x00hook"]}, r"^channels\[0\]: .*U\+0000"),
    ({"recipient": {"id": "u1", "email": "a@b.c\n"}}, r"^recipient\.email: .*U\+000A"),
    ({"recipient": {"id": "u1", "phone": "+1415\x005550100"}}, r"^recipient\.phone: .*U\+0000"),
    ({"recipient": {"id": "u1", "slack": "C0\x1b"}}, r"^recipient\.slack: .*U\+001B"),
    ({"recipient": {"id": "u1", "webhook_url": "https://e.com/\x00"}}, r"^recipient\.webhook_url: .*U\+0000"),
    ({"recipient": {"id": "u1", "locale": "pt\x00"}}, r"^recipient\.locale: .*U\+0000"),
    ({"recipient": {"id": "u1", "timezone": "Europe/Lisbon\x00"}}, r"^recipient\.timezone: .*U\+0000"),
    ({"recipient": {"id": "u1\ud800"}}, r"^recipient\.id: contains an unpaired surrogate \(U\+D800\)"),
    ({"content": {"default": {"subject": "Hello\r\nBcc: x@y.z"}}}, r"^content\.default\.subject: .*U\+000D"),
    ({"content": {"default": {"subject": "tab\there"}}}, r"^content\.default\.subject: .*U\+0009"),
    ({"content": {"default": {"text": "line\x00"}}}, r"^content\.default\.text: .*U\+0000"),
    ({"content": {"default": {"text": "form\x0cfeed"}}}, r"^content\.default\.text: .*U\+000C"),
    ({"content": {"email": {"html": "<p>\x9b</p>"}}}, r"^content\.email\.html: .*U\+009B"),
    ({"content": {"email": {"template": "reset\x00"}}}, r"^content\.email\.template: .*U\+0000"),
    ({"content": {"email": {"template": {"name": "reset\n"}}}}, r"^content\.email\.template\.name: .*U\+000A"),
    ({"content": {"web\x00hook": {"text": "hi"}}}, r"^content: key 'web\\x00hook' contains .*U\+0000"),
    ({"content": {"email": {"options": {"cc": ["a@b.c", "\x00"]}}}}, r"^content\.email\.options\.cc\[1\]: .*U\+0000"),
    ({"content": {"email": {"options": {"from\x00": "a@b.c"}}}}, r"^content\.email\.options: key 'from\\x00'"),
    ({"data": {"user": {"name": "Ad\x00a"}}}, r"^data\.user\.name: contains a control character \(U\+0000\) at position 3$"),
    ({"data": {"codes": [1, {"deep": [["\x00"]]}]}}, r"^data\.codes\[1\]\.deep\[0\]\[0\]: .*U\+0000"),
    ({"data": {"k\x00": 1}}, r"^data: key 'k\\x00' contains .*U\+0000"),
    ({"colour\x00": "red"}, r"^key 'colour\\x00' contains .*U\+0000"),
])
def test_control_characters_are_refused_field_by_field(change, message):
    with pytest.raises(ForbiddenCharacter, match=message) as refused:
        notification_from_json({**MINIMAL, **change})
    assert "\x00" not in str(refused.value)  # the message itself is safe to store and print


def test_text_keeps_tab_and_line_breaks_and_data_keeps_every_character_but_nul():
    record = notification_from_json({
        **MINIMAL, "content": {"default": {"subject": "Ünïcode ✓ subject", "text": "a\tb\r\nc\n",
                                           "html": "<p>\tx</p>\r\n"}},
        "data": {"controls": "\x01\x1b[31m\x7f\x9f", "tab\tkey": "\n"},
    })
    assert record["content"]["default"]["text"] == "a\tb\r\nc\n"
    assert json.loads(record["data"]) == {"controls": "\x01\x1b[31m\x7f\x9f", "tab\tkey": "\n"}


def test_a_long_channel_list_is_refused_by_its_length():
    with pytest.raises(InvalidNotification, match=r"^channels: 200 names listed; at most 16") as refused:
        notification_from_json({**MINIMAL, "channels": ["webhook"] * 200})
    assert not isinstance(refused.value, ForbiddenCharacter)
    with pytest.raises(InvalidNotification, match="at most 16"):
        notification_from_json({**MINIMAL, "channels": [f"fax{i}" for i in range(2000)]})
