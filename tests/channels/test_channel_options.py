"""Each provider reads its options through the channel's model (channels/<name>/options.py): a value
the model refuses is a Permanent outcome naming the field, and nothing is sent; a name the model
does not have is ignored (a `content.default` entry's options reach every channel without an entry
of its own); the real servers on loopback see only what the model let through."""
from __future__ import annotations

import json

import pytest

from channels.email.options import EmailOptions
from channels.slack.options import SlackOptions
from channels.webhook.options import WebhookOptions
from consumer.channel_options import read_options
from consumer.channel_specs import registry
from consumer.outcomes import Delivered, Permanent
from tests.channels.test_email import channel_message, send_all as send_emails, smtp_settings, tls_server  # noqa: F401
from tests.channels.test_slack import message as slack_message, send_all as send_slack, settings_for
from tests.channels.test_webhook_provider import Receiver, message as webhook_message, provider, run, serving


def test_every_built_in_channel_names_its_options_model():
    models = {name: spec.options for name, spec in registry().items() if name in ("email", "slack", "sms", "webhook")}
    assert {name: model.__name__ for name, model in models.items()} == {
        "email": "EmailOptions", "slack": "SlackOptions", "sms": "SmsOptions", "webhook": "WebhookOptions"}
    assert all(model.__module__ == f"channels.{name}.options" for name, model in models.items())


def test_reading_options_ignores_other_channels_names_but_not_wrong_values():
    assert read_options(EmailOptions, "{}") == EmailOptions()
    assert read_options(EmailOptions, None) == EmailOptions()
    mixed = read_options(EmailOptions, json.dumps({"cc": "a@example.com", "username": "bot", "method": "PUT"}))
    assert isinstance(mixed, EmailOptions) and mixed.cc == ["a@example.com"]
    assert read_options(SlackOptions, "{not json", "slack_invalid_options") == Permanent(
        "slack_invalid_options", "options is not JSON")
    assert read_options(SlackOptions, '{"unfurl_links": "yes", "cc": 5}', "slack_invalid_options") == Permanent(
        "slack_invalid_options", "unfurl_links: expected true or false")
    # The model's own error classes are kept; everything else is the channel's invalid-options class.
    assert read_options(WebhookOptions, '{"headers": {"Host": "x"}}') == Permanent(
        "header_not_allowed", "headers: header 'Host' is set by Tidings")
    assert read_options(WebhookOptions, '{"token": "x", "method": "GET"}').error_class == "secret_in_event"


@pytest.mark.parametrize("options, error_class, message", [
    ({"body": "xml"}, "invalid_options", "body: expected 'payload' or 'data'"),
    ({"credential": ["ops"]}, "invalid_options", "credential: expected a string"),
    ({"headers": ["X-A: 1"]}, "invalid_options", "headers: expected a JSON object"),
    ({"method": "TRACE"}, "invalid_method", "method: 'TRACE' is not one of DELETE, GET, PATCH, POST, PUT"),
])
def test_the_webhook_provider_names_the_refused_option_and_sends_nothing(options, error_class, message):
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            return await p.send(webhook_message(f"{base}/hook", options=options)), receiver.requests

    outcome, requests = run(scenario())
    assert outcome == Permanent(error_class, message) and requests == []


def test_the_webhook_provider_sends_with_another_channels_options_beside_its_own():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider() as p:
            options = {"method": "put", "body": "data", "cc": ["a@example.com"], "username": "bot"}
            return await p.send(webhook_message(f"{base}/hook", options=options, data={"n": 1})), receiver.requests

    outcome, [request] = run(scenario())
    assert isinstance(outcome, Delivered) and (request["method"], json.loads(request["body"])) == ("PUT", {"n": 1})


@pytest.mark.parametrize("options, message", [
    ({"cc": 5}, "cc: expected an address or a list of addresses"),
    ({"attachments": [{"filename": "a.pdf", "content_base64": "!!"}]}, "attachments[0].content_base64: not valid base64"),
    ({"attachments": {"filename": "a.pdf"}}, "attachments: expected a list"),
    ({"unsubscribe_url": "ftp://example.com/u"}, "unsubscribe_url: must be an https URL"),
])
def test_the_email_provider_names_the_refused_option_and_opens_no_session(tls_server, options, message):
    server, ca_file = tls_server
    [outcome] = send_emails(smtp_settings(server, ca_file), [channel_message(options=options)])
    assert outcome == Permanent("invalid_options", message)
    assert server.handler.sessions == 0


def test_the_email_provider_sends_with_another_channels_options_beside_its_own(tls_server):
    server, ca_file = tls_server
    message = channel_message(options={"cc": "grace@example.com", "username": "bot", "method": "PUT"})
    [outcome] = send_emails(smtp_settings(server, ca_file), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert sorted(got.rcpt_tos) == ["ada@example.com", "grace@example.com"]


def test_the_slack_provider_names_the_refused_option_and_posts_nothing(fake_slack):
    refused = [slack_message("C0001", unfurl_links="yes"), slack_message("C0001", blocks={"type": "divider"}),
               slack_message("C0001", thread_key=["x"])]
    sent = slack_message("C0001", username="ops-bot", cc=["a@example.com"])  # cc: an email option
    outcomes = send_slack(settings_for(fake_slack, database_url=None), [*refused, sent])
    assert outcomes[:3] == [Permanent("slack_invalid_options", "unfurl_links: expected true or false"),
                            Permanent("slack_invalid_options", "blocks: expected a list"),
                            Permanent("slack_invalid_options", "thread_key: expected a string")]
    assert isinstance(outcomes[3], Delivered) and fake_slack.requests == 1
    assert fake_slack.posts[0]["body"] == {"channel": "C0001", "text": "Disk almost full", "username": "ops-bot"}
