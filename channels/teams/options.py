"""The Teams channel's options (`content.teams.options`): the Adaptive Card to post, whole or as its
body. A template's `card` part arrives here too. Read by channels/teams/provider.py."""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from consumer.channel_options import ChannelOptions


class TeamsOptions(ChannelOptions):
    card: dict[str, Any] | list[dict[str, Any]] | None = Field(None, description=(
        "an AdaptiveCard object (`type: AdaptiveCard`) posted as it is, or a list of card elements "
        "for its body; without it the card is the subject (bold) over the text"))

    @field_validator("card")
    @classmethod
    def _adaptive(cls, card: Any) -> Any:
        if isinstance(card, dict) and card.get("type") != "AdaptiveCard":
            raise ValueError("expected an AdaptiveCard object (type AdaptiveCard) or a list of card elements")
        return card
