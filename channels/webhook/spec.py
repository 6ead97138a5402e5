"""The webhook channel's declaration for the registry (consumer/channel_specs.py): an http(s) URL,
a JSON body part, Standard Webhooks signatures."""
from __future__ import annotations

from channels.webhook.options import WebhookOptions
from channels.webhook.settings import WebhookSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, TemplatePart


def check_address(address: str) -> str:
    from channels.outbound import parse_url
    from consumer.outcomes import Permanent

    if isinstance(parsed := parse_url(address), Permanent):
        raise AddressInvalid(parsed.message)
    return address


SPEC = ChannelSpec(
    name="webhook",
    summary="webhooks: any method, auth, Standard Webhooks signatures, an SSRF guard, a bulkhead per endpoint",
    address="an http(s) URL",
    check_address=check_address,
    legacy_address_field="webhook_url",
    parts=(TemplatePart("body", "json"),),
    options=WebhookOptions,
    settings=WebhookSettings,
    provider="channels.webhook.provider:WebhookProvider",
    providers=("http",),
)
