"""`tidings config show [--json]`: the effective settings of every owner as this process reads them
(environment, TIDINGS_CONFIG file, defaults): the runtime's, each channel's and the gateway's.
Secrets are masked; nothing needs a broker or a database."""
from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import SecretStr

from consumer.channel_specs import registry
from consumer.settings import Section, Settings

MASK = "**********"


def add_parser(verbs) -> None:
    config = verbs.add_parser("config", help="the effective settings (secrets masked)")
    actions = config.add_subparsers(dest="config_verb", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="every setting of the runtime, each channel and the gateway")
    show.add_argument("--json", action="store_true", help="one JSON document: {owner: {setting: value}}")


def owners(settings: Settings) -> dict[str, Section]:
    """Each owner's settings, by the name `config show` prints it under."""
    from cli.gateway import gateway_settings  # the CLI's one way into the gateway

    sections: dict[str, Section] = {"runtime": settings}
    for name, spec in registry().items():
        if spec.settings is not None:
            sections[f"channel {name}"] = settings.section(spec.settings)
    sections["gateway"] = gateway_settings(settings)
    return sections


def shown(section: Section) -> dict[str, Any]:
    values = {}
    for name in type(section).model_fields:
        value = getattr(section, name)
        if isinstance(value, SecretStr):
            value = MASK if value.get_secret_value() else None
        values[name] = value
    return values


def config_command(args: argparse.Namespace, settings: Settings) -> int:
    everything = {owner: shown(section) for owner, section in owners(settings).items()}
    if args.json:
        print(json.dumps(everything, indent=2, default=str))
        return 0
    for owner, values in everything.items():
        print(f"# {owner}")
        for name, value in values.items():
            text = "" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else value
            print(f"TIDINGS_{name.upper()}={text}")
        print()
    return 0
