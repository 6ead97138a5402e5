"""The Slack channel's settings (TIDINGS_SLACK_*), read by its provider through
`settings.section(SlackSettings)`."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class SlackSettings(Section):
    slack_bot_token: SecretStr | None = Field(None, description="the bot token for `chat.postMessage`; never "
                                                                "logged or shown")
    slack_api_url: str = Field("https://slack.com/api", description=(
        "the Web API base URL (an internal one, a proxy or a fake, must be listed in "
        "`TIDINGS_SLACK_ALLOWED_TARGETS`)"))
    slack_timeout_s: float = Field(10.0, description="timeout of one request")
    slack_per_channel_per_s: float = Field(1.0, description="messages per second per Slack channel (0: no "
                                                            "pacing)")
    slack_max_pacing_wait_s: float = Field(5.0, description=(
        "longest wait for a Slack channel's slot inside the worker; longer waits are parked on a retry tier"))
    # Outbound HTTP guards (channels/outbound.py): an address comes from an event, and Slack's answer
    # becomes the delivery's error message.
    slack_webhook_hosts: str = Field("hooks.slack.com", description=(
        "comma-separated hosts incoming-webhook URLs may name (`*`: any host, still SSRF-guarded); others are "
        "`invalid_address`"))
    slack_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for the Slack channel's webhook URLs and its Web API URL; "
        "unset: public addresses only"))
