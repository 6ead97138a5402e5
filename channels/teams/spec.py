"""The Microsoft Teams channel's declaration for the registry (consumer/channel_specs.py): a
Workflows or incoming-webhook URL on Teams' hosts, an Adaptive Card built from the subject and
text parts or given whole as the `card` part."""
from __future__ import annotations

from channels.teams.options import TeamsOptions
from channels.teams.settings import TeamsSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart


def check_address(address: str) -> str:
    from channels.outbound import parse_url
    from consumer.outcomes import Permanent

    if isinstance(parsed := parse_url(address), Permanent):
        raise AddressInvalid(parsed.message)
    if parsed.scheme != "https":
        raise AddressInvalid(f"{address[:80]!r}: Teams URLs are https")
    return address


SPEC = ChannelSpec(
    name="teams",
    summary="Microsoft Teams: Adaptive Cards posted to a Workflows or incoming-webhook URL, paced per URL",
    address="a Teams Workflows URL (https://....logic.azure.com/workflows/...) or incoming-webhook URL",
    check_address=check_address,
    parts=(TemplatePart("subject", "one_line"), TemplatePart("text"), TemplatePart("card", "json")),
    options=TeamsOptions,
    settings=TeamsSettings,
    provider="channels.teams.provider:TeamsProvider",
    providers=("teams",),
    failures=(
        Failure("invalid_address", "permanent", "a URL not on teams_webhook_hosts"),
        Failure("invalid_options", "permanent", "the options do not fit the model"),
        Failure("teams_throttled", "transient", "429: waits as long as Teams says"),
        Failure("teams_payload_too_large", "permanent", "the card is over Teams' size limit"),
        Failure("teams_unauthorized", "permanent", "the URL's signature was refused"),
        Failure("teams_webhook_gone", "permanent", "the workflow or webhook no longer exists"),
        Failure("teams_bad_payload", "permanent", "400: the card is refused"),
        Failure("teams_http_<status>", "transient", "408, 412 or 5xx"),
        Failure("teams_http_<status>", "permanent", "any other refusal"),
    ),
    http_kit=True,
)
