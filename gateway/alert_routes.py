"""The Alertmanager routing table from the configuration: labels -> channels and recipient
(first matching route wins), and severity -> priority."""
from __future__ import annotations

import json
from dataclasses import dataclass

from consumer.settings import Settings, SettingsError
from consumer.topics import PRIORITIES
from consumer.channel_specs import channel_names
from gateway.settings import GatewaySettings

_SETTING = "TIDINGS_GATEWAY_ALERTMANAGER_ROUTES"


@dataclass(frozen=True)
class AlertRoute:
    match: dict[str, str]      # every label here must have this value (empty: matches any group)
    channels: list[str]
    recipient: dict            # the notification's recipient: id and one address per channel
    tenant: str = "default"    # the notification's tenant (the Alertmanager token must act for it)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(name) == value for name, value in self.match.items())


@dataclass(frozen=True)
class AlertRoutes:
    routes: list[AlertRoute]
    priorities: dict[str, str]  # severity label value -> priority

    @classmethod
    def from_settings(cls, settings: Settings) -> "AlertRoutes":
        try:
            table = json.loads(settings.section(GatewaySettings).gateway_alertmanager_routes)
            routes = [_route(entry) for entry in table]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SettingsError(f"{_SETTING}: expected a JSON list of "
                                f'{{"match": {{label: value}}, "channels": [...], "recipient": {{"id": ...}}}} ({exc})') from None
        priorities = {}
        for entry in (e for e in settings.section(GatewaySettings).gateway_alertmanager_priorities.split(",") if e.strip()):
            severity, _, priority = entry.partition("=")
            if priority.strip() not in PRIORITIES:
                raise SettingsError(f"TIDINGS_GATEWAY_ALERTMANAGER_PRIORITIES: {priority.strip()!r} is not one of "
                                    f"{', '.join(PRIORITIES)}")
            priorities[severity.strip()] = priority.strip()
        return cls(routes, priorities)

    def route_for(self, labels: dict[str, str]) -> AlertRoute | None:
        return next((route for route in self.routes if route.matches(labels)), None)

    def priority_for(self, severities: list[str]) -> str:
        """The most urgent priority any of the alerts' severities maps to; normal when none maps."""
        mapped = [self.priorities[s] for s in severities if s in self.priorities] or ["normal"]
        return min(mapped, key=PRIORITIES.index)


def _route(entry: dict) -> AlertRoute:
    match = {str(k): str(v) for k, v in entry.get("match", {}).items()}
    channels = list(entry["channels"])
    if not channels or any(c not in channel_names() for c in channels):
        raise ValueError(f"channels {channels!r}: each must be one of {', '.join(channel_names())}")
    recipient = dict(entry["recipient"])
    if not isinstance(recipient.get("id"), str):
        raise ValueError("recipient needs an id")
    tenant = entry.get("tenant", "default")
    if not isinstance(tenant, str) or not tenant.strip():
        raise ValueError("tenant: expected a non-empty string")
    return AlertRoute(match, channels, recipient, tenant)
