"""The Slack channel's declaration for the registry (consumer/channel_specs.py): an incoming-webhook
URL or a channel for chat.postMessage; text and blocks parts, data escaped for mrkdwn."""
from __future__ import annotations

import re

from channels.slack.options import SlackOptions
from channels.slack.settings import SlackSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart

_CHANNEL = re.compile(r"^[#@]?[\w.-]{1,80}$")


def check_address(address: str) -> str:
    if address.startswith(("https://", "http://")):
        from channels.outbound import parse_url
        from consumer.outcomes import Permanent

        if isinstance(parsed := parse_url(address), Permanent):
            raise AddressInvalid(parsed.message)
        return address
    if not _CHANNEL.match(address):
        raise AddressInvalid(f"{address!r} is neither an incoming-webhook URL nor a channel or user id")
    return address


SPEC = ChannelSpec(
    name="slack",
    summary="Slack: incoming webhooks (on Slack's hosts) or chat.postMessage with a bot token, threads, pacing",
    address="an incoming-webhook URL (https://hooks.slack.com/...) or a channel or user id (C0123, #alerts)",
    check_address=check_address,
    legacy_address_field="slack",
    parts=(TemplatePart("text", escape="slack"), TemplatePart("blocks", "json", escape="slack")),
    options=SlackOptions,
    settings=SlackSettings,
    provider="channels.slack.provider:SlackProvider",
    providers=("slack-webhook", "slack-api"),
    failures=(
        Failure("invalid_address", "permanent", "a webhook URL not on slack_webhook_hosts"),
        Failure("slack_invalid_options", "permanent", "the options do not fit the model"),
        Failure("slack_ratelimited", "transient", "429: waits as long as Slack says"),
        Failure("slack_<code>", "transient", "a passing Slack error (service_unavailable, ...) or any with a 5xx"),
        Failure("slack_<code>", "permanent", "Slack refused the message (channel_not_found, invalid_auth, ...)"),
        Failure("slack_bad_response", "transient", "a 200 answer that is not JSON"),
        Failure("slack_thread_store", "transient", "the thread store could not be read or written"),
        Failure("http_<status>", "transient", "408, 425, 429 or 5xx without a Slack error"),
        Failure("http_<status>", "permanent", "another status without a Slack error"),
    ),
    http_kit=True,
    compose_environment={"TIDINGS_SLACK_BOT_TOKEN": "${TIDINGS_SLACK_BOT_TOKEN:-}"},
)
