"""Channel name -> provider factory. Adding a provider is one module and one line here."""
from __future__ import annotations

from typing import Callable

from channels.email.provider import EmailProvider
from channels.provider import Provider
from channels.slack.provider import SlackProvider
from channels.sms.provider import SmsProvider
from channels.webhook.provider import WebhookProvider
from consumer.settings import Settings

PROVIDERS: dict[str, Callable[[Settings], Provider]] = {
    "email": EmailProvider,
    "slack": SlackProvider,
    "sms": SmsProvider,
    "webhook": WebhookProvider,
}


def provider_for(channel: str, settings: Settings) -> Provider:
    try:
        factory = PROVIDERS[channel]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ValueError(f"no worker for channel {channel!r} yet (available: {known})") from None
    return factory(settings)
