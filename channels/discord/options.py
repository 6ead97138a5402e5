"""The Discord channel's options (`content.discord.options`): Execute Webhook's own fields (embeds,
username, avatar_url, tts, allowed_mentions) and the thread to post in. A template's `embeds` part
arrives here too. Read by channels/discord/message.py."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from consumer.channel_options import ChannelOptions
from consumer.contracts import refusal


def _text(value: Any) -> Any:
    """A snowflake may arrive as a JSON number; Discord's own JSON writes it as a string."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Snowflake = Annotated[str, BeforeValidator(_text), StringConstraints(pattern=r"^[0-9]{1,25}$")]


class AllowedMentions(ChannelOptions):
    """Who the message may ping. `everyone` is not offered: @everyone and @here in data or a
    template must stay text."""

    parse: list[Literal["users", "roles"]] = Field([], description="mention types pinged wherever they appear")
    users: list[Snowflake] | None = Field(None, max_length=100, description="user ids that may be pinged")
    roles: list[Snowflake] | None = Field(None, max_length=100, description="role ids that may be pinged")
    replied_user: bool | None = Field(None, description="ping the author of a replied-to message")

    @model_validator(mode="after")
    def _exclusive(self) -> "AllowedMentions":
        # Discord refuses a type both parsed and listed (400 Invalid Form Body): refuse it before sending.
        for kind in ("users", "roles"):
            if kind in self.parse and getattr(self, kind):
                raise refusal("invalid_options", f"allowed_mentions: {kind} is both in parse and listed")
        return self


class DiscordOptions(ChannelOptions):
    """Every field may be left out; they go to Discord as its Execute Webhook fields."""

    embeds: list[dict[str, Any]] | None = Field(None, max_length=10, description=(
        "up to 10 embed objects (title, description, url, color, fields, footer, ...)"))
    username: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = Field(
        None, description="the name the message is posted under, instead of the webhook's")
    avatar_url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = Field(
        None, description="an image URL for the poster's avatar, instead of the webhook's")
    tts: bool | None = Field(None, description="read the message aloud (text-to-speech)")
    allowed_mentions: AllowedMentions | None = Field(None, description=(
        "who may be pinged (parse: users, roles; or user and role ids); default: nobody"))
    thread_id: Snowflake | None = Field(None, description="post in this thread of the webhook's channel")
    thread_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        None, description="a forum or media channel's webhook: start a thread with this name")

    @model_validator(mode="after")
    def _one_thread(self) -> "DiscordOptions":
        if self.thread_id and self.thread_name:
            raise refusal("invalid_options", "thread_id and thread_name: give one (an existing thread or a new one)")
        return self
