"""Turns one NotificationEvent into its deliveries: a ChannelMessage per channel that has an
address, or a `failed` DeliveryEvent saying why a channel cannot be delivered."""
from __future__ import annotations

from dataclasses import dataclass

from consumer.events import Clock, channel_address, channel_content, delivery_event, delivery_id, utcnow
from consumer.topics import CHANNELS


@dataclass(frozen=True)
class Delivery:
    channel: str
    message: dict  # a ChannelMessage record
    refusal: dict | None = None  # a `failed` DeliveryEvent when the channel cannot be delivered


def fan_out(event: dict, clock: Clock = utcnow) -> list[Delivery]:
    deliveries = []
    recipient = event["recipient"]
    for channel in event["channels"]:
        content = channel_content(event["content"], channel)
        template = content.get("template")
        message = {
            "delivery_id": delivery_id(event["id"], channel),
            "notification_id": str(event["id"]),
            "channel": channel,
            "priority": event["priority"],
            "created_at": event["created_at"],
            "source": event["source"],
            "tenant": event["tenant"],
            "category": event["category"],
            "recipient_id": recipient["id"],
            "address": channel_address(recipient, channel) or "",
            "subject": content.get("subject"),
            "text": content.get("text"),
            "html": content.get("html"),
            "template": template["name"] if template else None,
            "data": event["data"],
            "expires_at": event["expires_at"],
            "attempt": 1,
        }
        refusal = None
        if channel not in CHANNELS:
            refusal = delivery_event(message, "failed", clock=clock, error_class="unknown_channel",
                                     error_message=f"unknown channel {channel!r}")
        elif not message["address"]:
            refusal = delivery_event(message, "failed", clock=clock, error_class="missing_address",
                                     error_message=f"recipient {recipient['id']!r} has no {channel} address")
        deliveries.append(Delivery(channel, message, refusal))
    return deliveries
