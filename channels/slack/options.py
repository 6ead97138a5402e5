"""The Slack channel's options (`content.slack.options`): chat.postMessage arguments given to Slack as
they are, a channel that overrides the address, and a thread key. Read by channels/slack/provider.py."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from consumer.channel_options import ChannelOptions


def _key(value: Any) -> Any:
    """A thread key may be a number (an incident id); it is kept as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SlackOptions(ChannelOptions):
    """Every field may be left out; the ones Slack reads go to it unchanged (webhooks take them too)."""

    blocks: list[dict[str, Any]] | None = Field(None, description="Block Kit blocks; the text becomes the "
                                                                  "notification fallback")
    attachments: list[dict[str, Any]] | None = Field(None, description="legacy attachments")
    username: str | None = Field(None, description="the name the message is posted under")
    icon_emoji: str | None = Field(None, description="an emoji for the poster's icon (:rocket:)")
    icon_url: str | None = Field(None, description="an image URL for the poster's icon")
    unfurl_links: bool | None = Field(None, description="whether Slack previews links")
    unfurl_media: bool | None = Field(None, description="whether Slack previews media")
    thread_ts: str | None = Field(None, description="reply in this thread (a message's ts)")
    channel: str | None = Field(None, description="chat.postMessage: post here instead of the address")
    thread_key: Annotated[str, BeforeValidator(_key)] | None = Field(None, description=(
        "chat.postMessage: the first message with this key starts a thread in its channel, later ones "
        "reply in it (webhooks cannot thread)"))

    def passed_through(self) -> dict[str, Any]:
        """The chat.postMessage arguments given, as Slack takes them."""
        return self.model_dump(include=PASS_THROUGH, exclude_none=True)


# Options given to Slack as they are: chat.postMessage arguments, which webhooks accept too.
PASS_THROUGH = {"blocks", "attachments", "username", "icon_emoji", "icon_url", "unfurl_links", "unfurl_media",
                "thread_ts"}
