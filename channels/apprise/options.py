"""The Apprise channel's options (`content.apprise.options`): the kind of notification and how the
text is written. Read by channels/apprise/provider.py."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from consumer.channel_options import ChannelOptions


class AppriseOptions(ChannelOptions):
    notify_type: Literal["info", "success", "warning", "failure"] = Field("info", description=(
        "Apprise's notification type: services that show one use it for the colour or icon"))
    text_format: Literal["text", "markdown"] = Field("text", description=(
        "how the `text` part is written; Apprise converts it for each service (an `html` part is sent as "
        "HTML instead)"))
