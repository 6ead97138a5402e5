"""Turns one NotificationEvent into its deliveries: a ChannelMessage per requested channel (per
device, on a channel with devices), the reason a channel is refused (unknown) or suppressed (no
address for the recipient)."""
from __future__ import annotations

from dataclasses import dataclass

from consumer.channel_specs import address_of, channel_names, registry
from consumer.events import channel_content, delivery_id
from consumer.holds import Hold


@dataclass(frozen=True)
class Delivery:
    channel: str
    message: dict  # a ChannelMessage record
    refusal: str | None = None  # unknown_channel: dead-lettered
    detail: str = ""
    suppressed: str | None = None  # no_address | opted_out | address_suppressed: recorded, not sent
    hold: Hold | None = None  # scheduled or in quiet hours: parked until then (router/quiet_hours.py)


def fan_out(event: dict) -> list[Delivery]:
    deliveries = []
    recipient = event["recipient"]
    for channel in event["channels"]:
        content = channel_content(event["content"], channel)
        template = content.get("template")
        message = {
            "delivery_id": delivery_id(event["id"], channel, event["created_at"]),
            "notification_id": str(event["id"]),
            "channel": channel,
            "priority": event["priority"],
            "created_at": event["created_at"],
            "source": event["source"],
            "tenant": event["tenant"],
            "category": event["category"],
            "recipient_id": recipient["id"],
            "address": address_of(recipient, channel) or "",
            "subject": content.get("subject"),
            "text": content.get("text"),
            "html": content.get("html"),
            "template": template["name"] if template else None,
            "data": event["data"],
            "expires_at": event["expires_at"],
            "attempt": 1,
            "replay": 0,
            "options": content.get("options") or "{}",
        }
        if channel not in channel_names():
            deliveries.append(Delivery(channel, message, "unknown_channel", f"unknown channel {channel!r}"))
        elif registry()[channel].devices and (devices := device_addresses(recipient, channel)):
            deliveries += [Delivery(channel, {**message, "address": address, "delivery_id": delivery_id(
                                                  event["id"], f"{channel}/{address}", event["created_at"])})
                           for address in devices]
        elif not message["address"]:
            deliveries.append(Delivery(channel, message, detail=f"recipient {recipient['id']!r} has no {channel} address",
                                       suppressed="no_address"))
        else:
            deliveries.append(Delivery(channel, message))
    return deliveries


def device_addresses(recipient: dict, channel: str) -> list[str]:
    """The event's own address for the channel, then the recipient's devices from the directory
    (router/devices.py, filled in by the router), each once."""
    addresses = [address_of(recipient, channel), *(recipient.get("devices") or {}).get(channel, ())]
    return list(dict.fromkeys(a for a in addresses if a))
