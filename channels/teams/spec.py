"""The Microsoft Teams channel's declaration for the registry (consumer/channel_specs.py): a
Workflows or incoming-webhook URL on Teams' hosts, an Adaptive Card built from the subject and
text parts or given whole as the `card` part."""
from __future__ import annotations

from channels.teams.options import TeamsOptions
from channels.teams.settings import TeamsSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, TemplatePart


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
)
