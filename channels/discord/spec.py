"""The Discord channel's declaration for the registry (consumer/channel_specs.py): a webhook URL
on Discord's hosts, the text as the message's content and an `embeds` part for rich embeds."""
from __future__ import annotations

from channels.discord.options import DiscordOptions
from channels.discord.settings import DiscordSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, TemplatePart


def check_address(address: str) -> str:
    from channels.discord.address import webhook_address
    from consumer.outcomes import Permanent

    if isinstance(hook := webhook_address(address), Permanent):
        raise AddressInvalid(hook.message)
    if hook.url.scheme != "https":
        raise AddressInvalid(f"Discord webhook URLs are https, not {hook.url.scheme} ({hook})")
    return address


SPEC = ChannelSpec(
    name="discord",
    summary="Discord: messages with embeds posted to a webhook, paced per webhook by Discord's rate limits",
    address="a Discord webhook URL (https://discord.com/api/webhooks/ID/TOKEN)",
    check_address=check_address,
    parts=(TemplatePart("text"), TemplatePart("embeds", "json")),
    options=DiscordOptions,
    settings=DiscordSettings,
    provider="channels.discord.provider:DiscordProvider",
    providers=("discord",),
)
