"""The Discord channel's settings (TIDINGS_DISCORD_*), read by its provider through
`settings.section(DiscordSettings)`."""
from __future__ import annotations

from pydantic import Field

from consumer.settings import Section


class DiscordSettings(Section):
    # An address comes from an event, and Discord's answer becomes the delivery's error message.
    discord_webhook_hosts: str = Field(
        "discord.com, discordapp.com, ptb.discord.com, canary.discord.com", description=(
            "comma-separated hosts a Discord webhook URL may name (`*.domain` for its subdomains); "
            "others are `invalid_address`"))
    discord_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for the Discord channel's URLs; unset: public addresses only"))
    discord_timeout_s: float = Field(10.0, description="timeout of one request")
    # Discord lets a webhook post about 5 messages in 2 seconds; its headers tell the rest.
    discord_per_webhook_per_s: float = Field(2.5, description="posts per second to one webhook (0: no pacing)")
    discord_max_pacing_wait_s: float = Field(5.0, description=(
        "longest wait inside the worker for a webhook's slot or its rate limit to reset; longer waits "
        "are parked on a retry tier"))
