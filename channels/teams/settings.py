"""The Teams channel's settings (TIDINGS_TEAMS_*), read by its provider through
`settings.section(TeamsSettings)`."""
from __future__ import annotations

from pydantic import Field

from consumer.settings import Section


class TeamsSettings(Section):
    # An address comes from an event, and Teams' answer becomes the delivery's error message.
    teams_webhook_hosts: str = Field(
        "*.logic.azure.com, *.api.powerplatform.com, *.powerautomate.com, *.webhook.office.com", description=(
            "comma-separated hosts a Teams URL may name (`*.domain` for its subdomains): Power Automate "
            "Workflows and the retiring Office 365 connectors by default; others are `invalid_address`"))
    teams_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for the Teams channel's URLs; unset: public addresses only"))
    teams_timeout_s: float = Field(10.0, description="timeout of one request")
    # Teams throttles a webhook at about 4 requests a second and 60 in 30 seconds.
    teams_per_webhook_per_s: float = Field(2.0, description="posts per second to one Teams URL (0: no pacing)")
    teams_max_pacing_wait_s: float = Field(5.0, description=(
        "longest wait for a Teams URL's slot inside the worker; longer waits are parked on a retry tier"))
