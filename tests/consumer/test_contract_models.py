"""The contract models (consumer/notification_model.py, consumer/recipient_model.py and each channel's
options model): what they accept, what they refuse and how the refusal names the field, and the JSON
Schema the gateway's OpenAPI is made of."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from consumer.channel_specs import channel_names, registry
from consumer.contracts import first_problem, path_of
from consumer.notification_json import InvalidNotification, notification_from_json
from consumer.notification_model import MAX_CHANNELS, notification_model, notification_request_model
from consumer.recipient_model import directory_record_model, recipient_fields_model
from router.recipients import RecipientCharacter, RecipientInvalid, recipient_from_json

BASE = {"source": "billing", "channels": ["email", "slack", "sms", "webhook"], "recipient": {"id": "u1"}}
ATTACHMENT = {"filename": "INV-7.pdf", "content_type": "application/pdf", "content_base64": "aGk="}


def options_of(channel: str, options: dict, **changes) -> dict:
    return notification_from_json({**BASE, "content": {channel: {"text": "hi", "options": options}}, **changes})


@pytest.mark.parametrize("channel, options", [
    ("email", {"from": "Billing <billing@example.com>", "cc": "a@example.com", "bcc": ["b@example.com"],
               "reply_to": "help@example.com", "unsubscribe_url": "https://example.com/u/1",
               "attachments": [ATTACHMENT]}),
    ("webhook", {"method": "put", "headers": {"X-Tenant": "acme", "X-Num": 7}, "credential": "partner",
                 "body": "data"}),
    ("slack", {"blocks": [{"type": "divider"}], "attachments": [{"color": "good"}], "username": "bot",
               "icon_emoji": ":rocket:", "icon_url": "https://example.com/i.png", "unfurl_links": False,
               "unfurl_media": True, "thread_ts": "1700000000.000100", "channel": "C0002", "thread_key": 42}),
    ("sms", {}),
])
def test_every_channels_options_are_accepted_and_kept_as_written(channel, options):
    record = options_of(channel, options)
    assert json.loads(record["content"][channel]["options"]) == options


@pytest.mark.parametrize("channel, options, message", [
    ("email", {"reply-to": "a@example.com"},
     "content.email.options: unknown field(s): reply-to (known: from, cc, bcc, reply_to, unsubscribe_url, attachments)"),
    ("email", {"cc": 5}, "content.email.options.cc: expected an address or a list of addresses"),
    ("email", {"cc": ["a@example.com", 5]}, "content.email.options.cc[1]: expected a string"),
    ("email", {"bcc": ["a@example.com\r\nX: y"]}, "content.email.options.bcc[0]: contains a line break or NUL"),
    ("email", {"unsubscribe_url": "http://example.com/u"}, "content.email.options.unsubscribe_url: must be an https URL"),
    ("email", {"attachments": [{**ATTACHMENT, "content_base64": "not base64!"}]},
     "content.email.options.attachments[0].content_base64: not valid base64"),
    ("email", {"attachments": [{**ATTACHMENT, "content_type": "multipart/mixed"}]},
     "content.email.options.attachments[0].content_type: 'multipart/mixed' is not a type/subtype"),
    ("email", {"attachments": [{**ATTACHMENT, "size": 2}]}, "content.email.options.attachments[0]: unknown field(s): size"),
    ("webhook", {"method": "trace"}, "content.webhook.options.method: 'TRACE' is not one of DELETE, GET, PATCH, POST, PUT"),
    ("webhook", {"body": "xml"}, "content.webhook.options.body: expected 'payload' or 'data'"),
    ("webhook", {"headers": {"Authorization": "Bearer stolen"}},
     "content.webhook.options.headers: header 'Authorization' is set by Tidings"),
    ("webhook", {"headers": {"X-A": "a\nb"}}, "content.webhook.options.headers: header 'X-A' has a control character"),
    ("webhook", {"headers": {"X A": "b"}}, "content.webhook.options.headers: header name 'X A' is not an HTTP token"),
    ("webhook", {"signing_secret": "whsec_x"},
     "content.webhook.options: secrets come from configuration only, not options ['signing_secret']"),
    ("webhook", {"credential": 5}, "content.webhook.options.credential: expected a string"),
    ("slack", {"unfurl_links": "yes"}, "content.slack.options.unfurl_links: expected true or false"),
    ("slack", {"blocks": {"type": "divider"}}, "content.slack.options.blocks: expected a list"),
    ("slack", {"username": 7}, "content.slack.options.username: expected a string"),
    ("sms", {"from": "Tidings"}, "content.sms.options: unknown field(s): from (known: none)"),
    ("email", [], "content.email.options: expected a JSON object"),
])
def test_options_a_channel_refuses_are_named_by_their_path(channel, options, message):
    with pytest.raises(InvalidNotification) as refused:
        options_of(channel, options)
    assert str(refused.value).startswith(message), str(refused.value)


def test_default_options_are_judged_by_every_channel_that_falls_back_to_them():
    """`content.default` goes to each listed channel without an entry of its own: its options may
    mix names of several channels, each channel's model judges the values, and a name none of those
    channels has is refused."""
    mixed = {"cc": ["a@example.com"], "username": "bot"}
    record = notification_from_json({**BASE, "channels": ["email", "slack"],
                                     "content": {"default": {"text": "hi", "options": mixed}}})
    assert json.loads(record["content"]["default"]["options"]) == mixed
    with pytest.raises(InvalidNotification, match=r"^content\.default\.options\.cc: expected an address or a list "
                                                  r"of addresses \(for email\)$"):
        notification_from_json({**BASE, "channels": ["email", "slack"],
                                "content": {"default": {"options": {"cc": 5}}}})
    with pytest.raises(InvalidNotification, match=r"^content\.default\.options: unknown field\(s\): colour \(no option "
                                                  r"of email, slack\)$"):
        notification_from_json({**BASE, "channels": ["email", "slack"],
                                "content": {"default": {"options": {"cc": "a@example.com", "colour": "red"}}}})
    # A channel with an entry of its own does not take the default's options.
    notification_from_json({**BASE, "channels": ["email", "sms"],
                            "content": {"default": {"options": {"cc": "a@example.com"}}, "sms": {"text": "hi"}}})
    with pytest.raises(InvalidNotification, match=r"no option of email, sms"):
        notification_from_json({**BASE, "channels": ["email", "sms"],
                                "content": {"default": {"options": {"colour": "red"}}}})


@pytest.mark.parametrize("change, message", [
    ({"channels": ["email"] * (MAX_CHANNELS + 1)}, f"channels: {MAX_CHANNELS + 1} names listed; at most {MAX_CHANNELS}"),
    ({"channels": None}, "channels: expected a non-empty list of channel names"),
    ({"recipient": None}, "recipient: expected an object with at least an id"),
    ({"recipient": {"id": "u1", "addresses": {"fax": "1"}}}, "recipient.addresses: 'fax' is not a channel (known: "),
    ({"recipient": {"id": "u1", "timezone": "Mars/Olympus"}}, "recipient.timezone: 'Mars/Olympus' is not an IANA"),
    ({"content": {"email": {"template": {"name": "x", "version": True}}}}, "content.email.template.version: expected an integer"),
    ({"content": {"email": {"template": 7}}}, 'content.email.template: expected a name or {"name": ..., "version": N}'),
    ({"content": {"email": {"subject": "  "}}}, "content.email.subject: expected a non-empty string"),
    ({"content": {"pager": {}}}, "content: 'pager' is not a channel name or 'default'"),
    ({"priority": 3}, "priority: expected a non-empty string"),
])
def test_notification_fields_are_named_with_what_is_wrong(change, message):
    with pytest.raises(InvalidNotification) as refused:
        notification_from_json({**BASE, **change})
    assert str(refused.value).startswith(message), str(refused.value)


def test_a_notification_takes_inline_addresses_and_keeps_their_channels():
    record = notification_from_json({**BASE, "recipient": {"id": "u1", "phone": "+14155550100",
                                                           "addresses": {"email": "ada@example.com", "sms": None},
                                                           "timezone": "Europe/Lisbon"}})
    assert record["recipient"]["addresses"] == {"sms": "+14155550100", "email": "ada@example.com"}
    assert (record["recipient"]["phone"], record["recipient"]["timezone"]) == ("+14155550100", "Europe/Lisbon")


def test_a_directory_record_checks_and_normalises_each_address_by_its_channel():
    assert recipient_from_json({"id": "u1", "phone": "+1 415 555 0100", "addresses": {"email": "ada@example.com",
                                                                                      "slack": None},
                                "timezone": "Europe/Lisbon"}) == {
        "id": "u1", "addresses": {"sms": "+14155550100", "email": "ada@example.com", "slack": None},
        "timezone": "Europe/Lisbon"}
    cases = [({"id": "u1", "addresses": {"sms": "12"}}, RecipientInvalid, "addresses.sms: '12': give the number"),
             ({"id": "u1", "email": "nobody"}, RecipientInvalid, "email: 'nobody' is not an address"),
             ({"id": "u1", "locale": "Portuguese"}, RecipientInvalid, "locale: 'Portuguese' is not a locale like pt-BR"),
             ({"id": "u1", "addresses": {"slack": ""}}, RecipientInvalid,
              "addresses.slack: expected a non-empty string or null"),
             ({"id": "u1", "addresses": {"e\x00mail": "a@b.c"}}, RecipientCharacter,
              "addresses: contains a control character (U+0000) at position 2"),
             ({"id": "u\x07"}, RecipientCharacter, "id: contains a control character (U+0007) at position 2"),
             ({"addresses": {}}, RecipientInvalid, "id: required, a non-empty string"),
             ({"id": "u1", "fax": "1"}, RecipientInvalid, "unknown field(s): fax (known: id, addresses, ")]
    for record, kind, message in cases:
        with pytest.raises(RecipientInvalid) as refused:
            recipient_from_json(record)
        assert type(refused.value) is kind and str(refused.value).startswith(message), (record, str(refused.value))


def test_paths_name_list_items_and_quote_keys_that_are_not_names():
    assert path_of(("content", "email", "options", "cc", 1)) == "content.email.options.cc[1]"
    assert path_of(("data", "a.b", 0), prefix="x") == "x.data['a.b'][0]"
    with pytest.raises(ValidationError) as refused:
        directory_record_model().model_validate({"id": "u1", "addresses": {"email": 5}, "locale": 5})
    problem = first_problem(refused.value)
    assert (problem.path, problem.what) == ("addresses.email", "expected a non-empty string or null")


def test_the_json_schema_lists_what_the_registry_declares():
    schema = notification_request_model(7).model_json_schema()
    defs = schema["$defs"]
    assert schema["anyOf"][1]["maxItems"] == 7
    notification = defs["Notification"]
    assert notification["properties"]["channels"]["items"]["enum"] == list(channel_names())
    assert notification["properties"]["channels"]["maxItems"] == MAX_CHANNELS
    assert set(defs["Content"]["properties"]) == {"default", *channel_names()}
    assert set(defs["Addresses"]["properties"]) == set(channel_names())
    assert "timezone" in defs["Recipient"]["properties"] and defs["Recipient"]["required"] == ["id"]
    for name, spec in registry().items():
        if spec.options is None:  # a channel that takes any JSON object
            continue
        entry = defs["Content"]["properties"][name]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
        options = defs[entry]["properties"]["options"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
        assert options == spec.options.__name__ and defs[options]["additionalProperties"] is False
    fields = recipient_fields_model().model_json_schema()
    assert "id" not in fields["properties"] and set(fields["$defs"]["DirectoryAddresses"]["properties"]) == set(
        channel_names())
    assert notification_model().model_json_schema()["additionalProperties"] is False
