"""The Discord channel's declaration for the registry (consumer/channel_specs.py): a webhook URL
on Discord's hosts, the text as the message's content and an `embeds` part for rich embeds."""
from __future__ import annotations

from channels.discord.options import DiscordOptions
from channels.discord.settings import DiscordSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart


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
    failures=(
        Failure("invalid_address", "permanent", "not a Discord webhook URL on an accepted host"),
        Failure("invalid_options", "permanent", "the options do not fit the model"),
        Failure("discord_content_too_long", "permanent", "the text is over Discord's 2,000 characters"),
        Failure("discord_empty_message", "permanent", "neither text nor embeds"),
        Failure("discord_rate_limited", "transient", "429: waits as long as Discord says"),
        Failure("discord_bad_request", "permanent", "400 without a known code"),
        Failure("discord_invalid_form_body", "permanent", "50035: a field of the message is refused"),
        Failure("discord_unauthorized", "permanent", "the webhook token was refused"),
        Failure("discord_webhook_gone", "permanent", "the webhook was deleted"),
        Failure("discord_unknown_channel", "permanent", "thread_id names no thread of the webhook's channel"),
        Failure("discord_payload_too_large", "permanent", "413: over Discord's size limit"),
        Failure("discord_http_<status>", "transient", "408 or 5xx"),
        Failure("discord_http_<status>", "permanent", "any other refusal"),
    ),
    http_kit=True,
)
