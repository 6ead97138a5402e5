"""Every setting a process reads (the runtime's model, each channel's and the gateway's) is
documented by the name an operator types, TIDINGS_<NAME>, spelled out (a
`TIDINGS_RETRY_TIERS_<CHANNEL>` row counts for each channel): on docs/configuration.md, which is
generated from the models' descriptions, and a channel's settings on that channel's page too."""
from __future__ import annotations

import re
from pathlib import Path

import gateway.settings  # noqa: F401 - registers the gateway's model
from consumer.channel_specs import channel_names, registry
from consumer.settings import known_sections

DOCS = Path(__file__).parents[2] / "docs"
CONFIGURATION = DOCS / "configuration.md"
NOT_AN_ENVIRONMENT_VARIABLE = {"kafka", "retry_tiers_by_channel"}  # the [kafka] table; TIDINGS_RETRY_TIERS_<CHANNEL>
PROJECT = ("consumer", "channels", "gateway", "router", "tracking", "cli")  # not models the tests define


def documented_names(text: str) -> set[str]:
    names = set(re.findall(r"\bTIDINGS_[A-Z0-9_]*[A-Z0-9]\b", text))
    for template in re.findall(r"\bTIDINGS_[A-Z0-9_]*<CHANNEL>", text):
        names |= {template.replace("<CHANNEL>", channel.upper()) for channel in channel_names()}
    return names


def undocumented(fields, text: str) -> list[str]:
    documented = documented_names(text)
    return [f"TIDINGS_{name.upper()}" for name in fields
            if name not in NOT_AN_ENVIRONMENT_VARIABLE and f"TIDINGS_{name.upper()}" not in documented]


def test_every_setting_is_documented_on_the_configuration_page():
    models = [model for model in known_sections() if model.__module__.split(".")[0] in PROJECT]
    assert {"Settings", "GatewaySettings", "EmailSettings", "SmsSettings"} <= {m.__name__ for m in models}
    missing = undocumented([name for model in models for name in model.model_fields], CONFIGURATION.read_text())
    assert missing == [], f"settings not documented in docs/configuration.md: {', '.join(missing)}"
    assert "TIDINGS_RETRY_TIERS_<CHANNEL>" in CONFIGURATION.read_text() and "[kafka]" in CONFIGURATION.read_text()


def test_every_channel_setting_is_documented_on_its_channel_page():
    for name, spec in registry().items():
        if spec.settings is not None:
            page = DOCS / "channels" / f"{name}.md"
            assert undocumented(spec.settings.model_fields, page.read_text()) == [], page


def test_the_check_would_see_a_missing_setting():
    assert undocumented(["smtp_host", "smtp_port"], "`TIDINGS_SMTP_HOST` only") == ["TIDINGS_SMTP_PORT"]
    assert undocumented(["retry_tiers"], "`TIDINGS_RETRY_TIERS_SMS`") == ["TIDINGS_RETRY_TIERS"]
