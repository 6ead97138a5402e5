"""Every setting a process reads (the runtime's model, each channel's and the gateway's) is
documented in README.md by the name an operator types: TIDINGS_<NAME>, spelled out (a
`TIDINGS_RETRY_TIERS_<CHANNEL>` row counts for each channel)."""
from __future__ import annotations

import re
from pathlib import Path

import gateway.settings  # noqa: F401 - registers the gateway's model
from consumer.settings import known_sections
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
    names = [name for model in known_sections() for name in model.model_fields]
    missing = [f"TIDINGS_{name.upper()}" for name in names
               if name not in NOT_AN_ENVIRONMENT_VARIABLE and f"TIDINGS_{name.upper()}" not in documented]
    assert missing == [], f"settings not documented in README.md: {', '.join(missing)}"
