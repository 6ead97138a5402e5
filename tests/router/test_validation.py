"""The router's validation of events from any producer (router/validation.py): an Avro event that
bypassed `tidings publish` and the gateway is judged by the same rules, field by field."""
from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.codec import Codec, LocalSchemas
from consumer.events import NOTIFICATION
from router.validation import distinct_channels, invalid_field
from tests.pipeline import make_notifications

CODEC = Codec(LocalSchemas())


def event(**changes) -> dict:
    """A valid event as the router decodes it (make_notifications, through the Avro codec), with
    `changes` applied by path: {"recipient/id": "x"}; content entries are made on demand."""
    record = make_notifications(1, "https://example.com/hook")[0]
    record["content"]["email"] = {"template": {"name": "welcome", "version": None}, "subject": "Hi",
                                  "text": "plain", "html": "<p>html</p>", "options": json.dumps({"cc": ["a@b.c"]})}
    record = CODEC.decode(NOTIFICATION, CODEC.encode(NOTIFICATION, record))
    for path, value in changes.items():
        *parents, last = path.split("/")
        target = record
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return record


def routed(record: dict) -> dict:
    """The record as the router would see it once it went through the broker."""
    return CODEC.decode(NOTIFICATION, CODEC.encode(NOTIFICATION, record))


def test_a_valid_event_passes_and_tabs_and_line_breaks_in_bodies_are_kept():
    assert invalid_field(event()) is None
    assert invalid_field(routed(event(**{"content/default/text": "a\tb\r\nc\n", "content/email/html": "<p>\n</p>"}))) is None


@pytest.mark.parametrize("path", ["source", "tenant", "category", "idempotency_key", "recipient/id", "recipient/email",
                                  "recipient/phone", "recipient/slack", "recipient/webhook_url", "recipient/locale",
                                  "recipient/timezone", "content/email/template/name"])
@pytest.mark.parametrize("character", ["\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\x9f"])
def test_identifier_fields_refuse_every_control_character(path, character):
    problem = invalid_field(routed(event(**{path: "ab" + character + "c"})))
    field = path.replace("/", ".")
    assert problem == f"{field}: contains a control character (U+{ord(character):04X}) at position 3"


@pytest.mark.parametrize("character", ["\x00", "\t", "\n", "\r", "\x0b", "\x85"])
def test_the_subject_becomes_a_header_so_it_refuses_every_control_character(character):
    problem = invalid_field(routed(event(**{"content/default/subject": "Hello" + character})))
    assert problem == f"content.default.subject: contains a control character (U+{ord(character):04X}) at position 6"


@pytest.mark.parametrize("path", ["content/default/text", "content/email/html"])
@pytest.mark.parametrize("character", ["\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x85"])
def test_bodies_refuse_controls_other_than_tab_and_line_breaks(path, character):
    problem = invalid_field(routed(event(**{path: "x" + character})))
    assert problem == f"{path.replace('/', '.')}: contains a control character (U+{ord(character):04X}) at position 2"


def test_an_unpaired_surrogate_in_data_is_refused():
    problem = invalid_field(routed(event(data='{"name": "\\ud800"}')))
    assert problem == "data.name: contains an unpaired surrogate (U+D800) at position 1"


@pytest.mark.parametrize("data, message", [
    ('{"i": 1, "nested": {"list": [1, 2, "x\\u0000"]}}', "data.nested.list[2]: contains a control character (U+0000) at position 2"),
    ('{"user": {"na\\u0000me": "Ada"}}', "data.user: key 'na\\x00me' contains a control character (U+0000) at position 3"),
    ('{"a": [{"b": [[{"c": "\\u0000"}]]}]}', "data.a[0].b[0][0].c: contains a control character (U+0000) at position 1"),
    ('{"tab\\tkey": {"x": "\\u0000"}}', "data['tab\\tkey'].x: contains a control character (U+0000) at position 1"),
    ('{"a": "\x00"}', "data: contains a control character (U+0000) at position 8"),  # raw, not escaped
    ('{"a": ', "data: not valid JSON"),
    ('[1, 2]', "data: expected a JSON object"),
    ('"text"', "data: expected a JSON object"),
    ('[' * 100_000 + ']' * 100_000, "data: "),  # too deep for json.loads: refused, not raised
])
def test_data_refuses_nul_at_any_depth_and_must_be_a_json_object(data, message):
    problem = invalid_field(routed(event(data=data)))
    assert problem is not None and problem.startswith(message), problem


def test_data_keeps_every_character_but_nul():
    data = json.dumps({"controls": "\x01\x1b[31m\x7f\x9f\t\n", "line\nkey": ["\r"]})
    assert invalid_field(routed(event(data=data))) is None
    assert invalid_field(routed(event(data=""))) is None  # an empty string stands for {} as it does downstream


@pytest.mark.parametrize("options, message", [
    (json.dumps({"cc": ["a@b.c", "\x00"]}), "content.email.options.cc[1]: contains a control character (U+0000)"),
    (json.dumps({"headers": {"X-A\x00": "1"}}), "content.email.options.headers: key 'X-A\\x00' contains"),
    ("{\x00}", "content.email.options: contains a control character (U+0000) at position 2"),
    ("{not json", "content.email.options: not valid JSON"),
    ("[]", "content.email.options: expected a JSON object"),
])
def test_options_refuse_nul_at_any_depth_and_must_be_a_json_object(options, message):
    problem = invalid_field(routed(event(**{"content/email/options": options})))
    assert problem is not None and problem.startswith(message), problem


def test_a_content_key_with_a_control_character_is_named_safely():
    record = event()
    record["content"]["e\x00mail"] = record["content"].pop("email")
    assert invalid_field(routed(record)) == "content: key 'e\\x00mail' contains a control character (U+0000) at position 2"


@pytest.mark.parametrize("channels, message", [
    ([], "channels: the event requests no channel"),
    (["webhook", ""], "channels[1]: an empty channel name"),
    ([" "], "channels[0]: an empty channel name"),
    (["webhook", "web\x00hook"], "channels[1]: contains a control character (U+0000) at position 4"),
    (["email\n"], "channels[0]: contains a control character (U+000A) at position 6"),
    ([f"fax{i}" for i in range(2000)], "channels: 2000 distinct names; at most 16"),
])
def test_channel_lists(channels, message):
    assert invalid_field(routed(event(channels=channels))) == message


def test_repeated_and_unknown_channels_are_left_to_the_router():
    """200 x "webhook" is one delivery (distinct_channels), and an unknown channel is refused by the
    router for that channel alone, so neither makes the event invalid."""
    assert invalid_field(routed(event(channels=["webhook"] * 200))) is None
    assert invalid_field(routed(event(channels=["webhook", "fax"]))) is None
    assert invalid_field(routed(event(channels=["webhook"] * 3 + [f"fax{i}" for i in range(16)]))) == \
        "channels: 17 distinct names; at most 16"


def test_distinct_channels_keep_the_first_order():
    assert distinct_channels(event(channels=["sms", "webhook", "sms", "email", "webhook"])) == ["sms", "webhook", "email"]
    assert distinct_channels(event(channels=["webhook"] * 200)) == ["webhook"]
    assert distinct_channels(event(channels=[])) == []


def test_the_event_is_not_changed():
    record = event(data='{"a": "\\u0000"}')
    before = copy.deepcopy(record)
    assert invalid_field(record) is not None
    assert record == before


CONTROL = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(text=st.text(st.characters(codec="utf-8"), min_size=1, max_size=30))
def test_an_identifier_is_refused_exactly_when_it_holds_a_control_character(text):
    problem = invalid_field(routed(event(**{"recipient/id": text})))
    if any(c in CONTROL for c in text):
        first = min(text.index(c) for c in CONTROL if c in text)
        assert problem == f"recipient.id: contains a control character (U+{ord(text[first]):04X}) at position {first + 1}"
    else:
        assert problem is None
