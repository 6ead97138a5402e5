"""The Telegram channel's options (`content.telegram.options`): the parse mode of the text and a
few sendMessage flags. Read by channels/telegram/provider.py."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from consumer.channel_options import ChannelOptions


class TelegramOptions(ChannelOptions):
    parse_mode: Literal["HTML", "MarkdownV2"] | None = Field(None, description=(
        "how Telegram reads the inline text: `HTML` or `MarkdownV2`, written (and escaped) by the publisher; "
        "unset: the `markdown` part as MarkdownV2, the `html` part or field as HTML, else the text as plain "
        "text. A template's `text` part is plain: a parse mode over it is refused, its data is not escaped"))
    markdown: str | None = Field(None, description=(
        "the text in MarkdownV2: a template's `markdown` part (its data escaped for MarkdownV2) or the "
        "publisher's own, escaped by them; sent instead of the text and html"))
    disable_notification: bool | None = Field(None, description=(
        "deliver silently (no sound); unset: silent for LOW priority notifications only"))
    disable_link_preview: bool = Field(False, description="no preview of the first link in the text")
    message_thread_id: int | None = Field(None, description="a forum supergroup's topic to post in")
