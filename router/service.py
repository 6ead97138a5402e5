"""`tidings run router`: consume the four event topics, publish each delivery to its channel
topic of the same priority (key: recipient id) and a `queued` DeliveryEvent, and let the runtime
store the offset only once all of them are acknowledged. Undecodable events and deliveries that
cannot be made (unknown channel, no address) go to the dead-letter topic."""
from __future__ import annotations

import asyncio

from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.codec import Codec, DecodeError
from consumer.dead_letters import DeadLetters, identity
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION, Clock, delivery_event, lane, utcnow
from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics
from router.fanout import Delivery, fan_out


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
        self.dead_letters: DeadLetters | None = None

    async def start(self) -> None:
        self.publisher = Publisher.from_settings(self.settings)
        self.dead_letters = DeadLetters(self.publisher, self.names, self.group_id, self.name, self.metrics, self.clock)

    async def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()

    async def handle(self, messages: list[Message]) -> None:
        acks = []
        for raw in messages:
            try:
                event = self.codec.decode(NOTIFICATION, raw.value())
            except DecodeError as exc:
                acks.append(self.dead_letters.poison(raw, "undecodable", str(exc)))
                continue
            if not event["channels"]:
                acks.append(self.dead_letters.poison(raw, "invalid_event", "the event requests no channel"))
                continue
            for delivery in fan_out(event):
                if delivery.refusal is not None:
                    acks += self._refuse(raw, event, delivery)
                    continue
                topic = self.names.channel(delivery.channel, lane(event["priority"]))
                acks.append(self.publisher.publish(topic, self.codec.encode(CHANNEL_MESSAGE, delivery.message),
                                                   key=delivery.message["recipient_id"]))
                acks.append(self._record(delivery_event(delivery.message, "queued", clock=self.clock, attempt=0)))
        await asyncio.gather(*acks)

    def _refuse(self, raw: Message, event: dict, delivery: Delivery) -> list[asyncio.Future]:
        """Dead-letter one channel of an event. A missing address keeps the ChannelMessage (replayed
        to its channel topic once fixed); an unknown channel keeps the event itself."""
        self.metrics.poison.labels(self.name, raw.topic(), delivery.refusal).inc()
        if delivery.refusal == "missing_address":
            topic = self.names.channel(delivery.channel, lane(event["priority"]))
            origin = h.FailureContext(topic, -1, -1, self.clock())
            value = self.codec.encode(CHANNEL_MESSAGE, delivery.message)
        else:
            origin, value = None, None
        return [
            self.dead_letters.send(raw, reason=delivery.refusal, error_class=delivery.refusal,
                                   error_message=delivery.detail, identity=identity(delivery.message),
                                   origin=origin, value=value),
            self._record(delivery_event(delivery.message, "dead_lettered", clock=self.clock, attempt=0,
                                        stage=self.name, reason=delivery.refusal, error_class=delivery.refusal,
                                        error_message=delivery.detail)),
        ]

    def _record(self, event: dict) -> asyncio.Future:
        self.metrics.delivery_events.labels(self.name, event["channel"], event["status"]).inc()
        return self.publisher.publish(self.names.deliveries, self.codec.encode(DELIVERY, event),
                                      key=event["delivery_id"])
