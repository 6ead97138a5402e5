"""The inbox channel's options (`content.inapp.options`): an item's title, body, action URL, data and
body format. A template's `title`, `body` and `action_url` parts arrive here too. Read by
channels/inapp/item.py."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from consumer.channel_options import ChannelOptions


class InboxOptions(ChannelOptions):
    title: str | None = Field(None, description="the item's title (default: the subject)")
    body: str | None = Field(None, description="the item's body (default: the text)")
    format: Literal["plain", "markdown"] = Field("plain", description=(
        "`markdown`: the body is Markdown, rendered to HTML without raw HTML, images or script links"))
    action_url: str | None = Field(None, description="an http(s) URL the item opens when clicked")
    data: dict[str, Any] | None = Field(None, description="a JSON object handed to the product's client as it is")

    @field_validator("action_url")
    @classmethod
    def _web_url(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if not url.lower().startswith(("https://", "http://")) or any(c.isspace() or ord(c) < 32 for c in url):
            raise ValueError("expected an http(s) URL")
        if len(url) > 2048:
            raise ValueError("longer than 2048 characters")
        return url
