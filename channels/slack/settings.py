"""The Slack channel's settings (TIDINGS_SLACK_*), read by its provider through
`settings.section(SlackSettings)`."""
from __future__ import annotations

from pydantic import SecretStr

from consumer.settings import Section


class SlackSettings(Section):
    # Slack: the bot token for chat.postMessage (never logged), the Web API base URL, the timeout of
    # one request, and how many messages per second go to one Slack channel (0 = unpaced).
    slack_bot_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api"
    slack_timeout_s: float = 10.0
    slack_per_channel_per_s: float = 1.0
    slack_max_pacing_wait_s: float = 5.0
    # Outbound HTTP guards (channels/outbound.py): incoming webhooks only on these hosts
    # (comma-separated; "*" = any host, still through the SSRF guard), and the internal hosts or
    # subnets the channel may reach (as TIDINGS_WEBHOOK_ALLOWED_TARGETS).
    slack_webhook_hosts: str = "hooks.slack.com"
    slack_allowed_targets: str | None = None
