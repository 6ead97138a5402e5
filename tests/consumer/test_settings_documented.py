"""Every setting a process reads (consumer/settings.py) is documented in README.md by the name an
operator types: TIDINGS_<NAME>, spelled out (a `TIDINGS_RETRY_TIERS_<CHANNEL>` row counts for each channel)."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from consumer.settings import Settings
from consumer.channel_specs import channel_names

README = Path(__file__).parents[2] / "README.md"
NOT_AN_ENVIRONMENT_VARIABLE = {"kafka", "retry_tiers_by_channel"}  # the [kafka] table; TIDINGS_RETRY_TIERS_<CHANNEL>


def documented_names(text: str) -> set[str]:
    names = set(re.findall(r"\bTIDINGS_[A-Z0-9_]*[A-Z0-9]\b", text))
    for template in re.findall(r"\bTIDINGS_[A-Z0-9_]*<CHANNEL>", text):
        names |= {template.replace("<CHANNEL>", channel.upper()) for channel in channel_names()}
    return names


def test_every_setting_is_documented_in_the_readme():
    documented = documented_names(README.read_text())
    missing = [f"TIDINGS_{f.name.upper()}" for f in fields(Settings)
               if f.name not in NOT_AN_ENVIRONMENT_VARIABLE and f"TIDINGS_{f.name.upper()}" not in documented]
    assert missing == [], f"settings not documented in README.md: {', '.join(missing)}"
