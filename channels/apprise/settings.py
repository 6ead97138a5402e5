"""The Apprise channel's settings (TIDINGS_APPRISE_*), read by its provider through
`settings.section(AppriseSettings)`."""
from __future__ import annotations

from pydantic import Field

from consumer.settings import Section

# Services on their own fixed public hosts, and self-hosted ones only in their https form (their host
# is screened like any other target). Never json/xml/form: a URL of any host and body is the webhook
# channel's job, with its SSRF guard on every connection.
DEFAULT_SCHEMES = "discord, tgram, slack, gchat, pover, pbul, webex, zulip, ntfys, gotifys, mmosts, rockets, matrixs"


class AppriseSettings(Section):
    apprise_schemes: str = Field(DEFAULT_SCHEMES, description=(
        "comma-separated Apprise schemes a recipient's URL may use; any other is permanent "
        "`scheme_not_allowed` and nothing is sent"))
    apprise_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for the hosts of self-hosted services' URLs (ntfy, Gotify, "
        "...), checked before Apprise connects; unset: public addresses only"))
    apprise_concurrency: int = Field(8, ge=1, description="notifications Apprise sends at once (one thread each)")
    apprise_timeout_s: float = Field(10.0, gt=0, description=(
        "connect and read timeout of each request Apprise makes, and the longest a send is waited for"))
