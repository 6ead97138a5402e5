"""Retry tiers: one topic per fixed delay per channel, so arrival order is due order within a
tier. Parsed from settings ("10s,1m,10m,1h", per channel overridable)."""
from __future__ import annotations

from dataclasses import dataclass

from consumer.durations import parse_duration
from consumer.settings import Settings, SettingsError
from consumer.channel_specs import channel_names, registry

DEFAULT_TIERS = "10s,1m,10m,1h"


@dataclass(frozen=True)
class RetryTier:
    name: str        # also the topic suffix: <prefix>.channel.<channel>.retry.<name>
    delay_s: float


def parse_tiers(text: str, setting: str = "TIDINGS_RETRY_TIERS") -> list[RetryTier]:
    tiers = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        # The name as written (a topic suffix: "10s" stays "10s"), without inner spaces.
        tiers.append(RetryTier("".join(token.split()), parse_duration(token, setting)))
    if [t.delay_s for t in tiers] != sorted(t.delay_s for t in tiers) or len({t.name for t in tiers}) != len(tiers):
        raise SettingsError(f"{setting}: tiers must be distinct and in increasing order, got {text!r}")
    return tiers


def tiers_for(settings: Settings, channel: str) -> list[RetryTier]:
    """TIDINGS_RETRY_TIERS_<CHANNEL>, else the channel's own default (its ChannelSpec), else
    TIDINGS_RETRY_TIERS."""
    own = settings.retry_tiers_by_channel.get(channel)
    if own is not None:
        return parse_tiers(own, f"TIDINGS_RETRY_TIERS_{channel.upper()}")
    default = spec.retry_tiers if (spec := registry().get(channel)) is not None else None
    return parse_tiers(default, f"the {channel} channel's default tiers") if default else parse_tiers(settings.retry_tiers)


def all_tier_names(settings: Settings) -> dict[str, list[str]]:
    return {channel: [t.name for t in tiers_for(settings, channel)] for channel in channel_names()}
