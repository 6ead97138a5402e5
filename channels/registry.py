"""Channel name -> provider factory. Adding a provider is one module and one line here."""
from __future__ import annotations

from typing import Callable

from channels.email import EmailProvider
from channels.provider import Provider
from channels.slack import SlackProvider
from channels.sms import SmsProvider
from channels.webhook import WebhookProvider
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
