"""The provider of a channel, from its ChannelSpec (consumer/channel_specs.py): imported only by
the worker that runs it, so the registry itself never loads a provider's SDK."""
from __future__ import annotations

from channels.provider import Provider
from consumer.channel_specs import channel_names, registry
from consumer.settings import Settings


def provider_for(channel: str, settings: Settings) -> Provider:
    spec = registry().get(channel)
    if spec is None:
        raise ValueError(f"no channel {channel!r} (available: {', '.join(channel_names())})")
    try:
        # A provider may import an SDK only once its settings say it is used (push: FCM, APNs).
        return spec.load_provider()(settings)
    except ModuleNotFoundError as exc:  # an optional dependency (the channel's extra) is not installed
        raise ValueError(f"the {channel} channel needs {exc.name}, which is not installed: "
                         f"pip install 'tidings[{channel}]' (or 'tidings[all]')") from None
