"""A Discord webhook URL, `https://discord.com/api/webhooks/<id>/<token>`, taken apart: read by the
spec (at the directory's entrance) and by the provider (on every send). The token is a secret, so
what this module says about an address names its host and webhook id, never the URL."""
from __future__ import annotations

import re
from dataclasses import dataclass

from yarl import URL

from channels.outbound import parse_url
from consumer.outcomes import Permanent

# Execute Webhook, unversioned or versioned (/api/v10/...); not its /slack or /github forms, which
# take other bodies. A webhook id is a snowflake; its token is URL-safe base64.
_PATH = re.compile(r"/api(?:/v[0-9]{1,2})?/webhooks/([0-9]{1,25})/([A-Za-z0-9_-]{1,200})/?")
SHAPE = "https://discord.com/api/webhooks/<id>/<token>"


@dataclass(frozen=True)
class WebhookAddress:
    url: URL
    webhook_id: str
    token: str

    @property
    def host(self) -> str:
        return (self.url.raw_host or "").lower().rstrip(".")

    def __str__(self) -> str:
        """What an outcome message or a log line may show of the address."""
        return f"{self.host} webhook {self.webhook_id}"


def webhook_address(address: str) -> WebhookAddress | Permanent:
    """The address taken apart, or Permanent `invalid_address` saying why (without the token)."""
    url = parse_url(address)
    if isinstance(url, Permanent):  # its message quotes the URL, token and all
        return Permanent("invalid_address", f"not an http(s) URL a client can use; expected {SHAPE}")
    path = _PATH.fullmatch(url.raw_path)
    if path is None:
        return Permanent("invalid_address", f"a URL on {(url.raw_host or '')[:100]!r} that is not a Discord "
                                            f"webhook's; expected {SHAPE}")
    return WebhookAddress(url, path[1], path[2])
