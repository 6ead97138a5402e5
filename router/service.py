"""`tidings run router`: consume the four event topics, publish each delivery to its channel
topic of the same priority (key: recipient id) and a `queued` DeliveryEvent, and let the runtime
store the offset only once all of them are acknowledged."""
from __future__ import annotations

import asyncio

from confluent_kafka import Message

from consumer.codec import Codec, DecodeError
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION, Clock, delivery_event, lane, utcnow
from consumer.metrics import ServiceMetrics
from consumer.poison import report_poison
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics
from router.fanout import fan_out


class RouterService:
    name = "router"

    def __init__(self, settings: Settings, metrics: ServiceMetrics, clock: Clock = utcnow):
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.codec = Codec.from_settings(settings)
        self.names = Topics(settings.topic_prefix)
        self.group_id = f"{settings.group_prefix}.router"
        self.topics = self.names.all_events()
        self.publisher: Publisher | None = None

    async def start(self) -> None:
        self.publisher = Publisher.from_settings(self.settings)

    async def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()

    async def handle(self, messages: list[Message]) -> None:
        acks = []
        for message in messages:
            try:
                event = self.codec.decode(NOTIFICATION, message.value())
            except DecodeError as exc:
                report_poison(self.metrics, message, "undecodable", str(exc))
                continue
            for delivery in fan_out(event, self.clock):
                if delivery.refusal is not None:
                    acks.append(self._record(delivery.refusal))
                    continue
                topic = self.names.channel(delivery.channel, lane(event["priority"]))
                acks.append(self.publisher.publish(topic, self.codec.encode(CHANNEL_MESSAGE, delivery.message),
                                                   key=delivery.message["recipient_id"]))
                acks.append(self._record(delivery_event(delivery.message, "queued", clock=self.clock, attempt=0)))
        await asyncio.gather(*acks)

    def _record(self, event: dict) -> asyncio.Future:
        self.metrics.delivery_events.labels(self.name, event["channel"], event["status"]).inc()
        return self.publisher.publish(self.names.deliveries, self.codec.encode(DELIVERY, event),
                                      key=event["delivery_id"])
