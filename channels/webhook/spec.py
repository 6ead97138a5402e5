"""The webhook channel's declaration for the registry (consumer/channel_specs.py): an http(s) URL,
a JSON body part, Standard Webhooks signatures."""
from __future__ import annotations

from channels.webhook.options import WebhookOptions
from channels.webhook.settings import WebhookSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart


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
    failures=(
        Failure("invalid_options", "permanent", "the options do not fit the model"),
        Failure("invalid_method", "permanent", "not an HTTP method Tidings sends"),
        Failure("header_injection", "permanent", "a header with a control character"),
        Failure("header_not_allowed", "permanent", "a header Tidings sets itself"),
        Failure("secret_in_event", "permanent", "a secret in the options (secrets come from configuration)"),
        Failure("unknown_credential", "permanent", "no such credential in webhook_credentials"),
        Failure("credential_not_allowed", "permanent", "the credential is not for this host"),
        Failure("invalid_data", "permanent", "the event's data is not JSON"),
        Failure("body_too_large", "permanent", "the body is over webhook_max_body_bytes"),
        Failure("endpoint_gone", "permanent", "410 Gone: the endpoint is disabled from now on"),
        Failure("endpoint_disabled", "suppressed", "the endpoint answered 410 Gone earlier"),
        Failure("circuit_open", "transient", "the endpoint's circuit breaker is open"),
        Failure("http_<status>", "transient", "408, 425, 429 or 5xx"),
        Failure("http_<status>", "permanent", "any other non-2xx status"),
    ),
    http_kit=True,
)
