"""`tidings run channel <name>`: consume the channel's four priority topics, send each message
through the provider concurrently, and publish a `sent` or `failed` DeliveryEvent per attempt;
the offset is stored only after that event is acknowledged."""
from __future__ import annotations

import asyncio
import time

from confluent_kafka import Message

from channels.provider import Provider
from consumer.codec import Codec, DecodeError
from consumer.events import CHANNEL_MESSAGE, DELIVERY, Clock, delivery_event, utcnow
from consumer.metrics import ServiceMetrics
from consumer.outcomes import Delivered, Outcome
from consumer.poison import report_poison
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics


class ChannelWorker:
    def __init__(self, channel: str, provider: Provider, settings: Settings, metrics: ServiceMetrics,
                 clock: Clock = utcnow):
        self.channel = channel
        self.name = f"channel-{channel}"
        self.provider = provider
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.codec = Codec.from_settings(settings)
        self.names = Topics(settings.topic_prefix)
        self.group_id = f"{settings.group_prefix}.channel.{channel}"
        self.topics = self.names.all_channel(channel)
        self.publisher: Publisher | None = None

    async def start(self) -> None:
        self.publisher = Publisher.from_settings(self.settings)
        await self.provider.start()

    async def close(self) -> None:
        await self.provider.close()
        if self.publisher is not None:
            self.publisher.close()

    async def handle(self, messages: list[Message]) -> None:
        await asyncio.gather(*(self._deliver(m) for m in messages))

    async def _deliver(self, raw: Message) -> None:
        try:
            message = self.codec.decode(CHANNEL_MESSAGE, raw.value())
        except DecodeError as exc:
            report_poison(self.metrics, raw, "undecodable", str(exc))
            return
        started = time.monotonic()
        outcome = await self.provider.send(message)
        self.metrics.send_seconds.labels(self.channel, self.provider.name).observe(time.monotonic() - started)
        await self._record(message, outcome)

    def _record(self, message: dict, outcome: Outcome) -> asyncio.Future:
        if isinstance(outcome, Delivered):
            event = delivery_event(message, "sent", clock=self.clock, provider=self.provider.name,
                                   status_code=outcome.status_code,
                                   provider_message_id=outcome.provider_message_id,
                                   cost=outcome.cost, cost_currency=outcome.cost_currency)
        else:
            event = delivery_event(message, "failed", clock=self.clock, provider=self.provider.name,
                                   status_code=outcome.status_code, error_class=outcome.error_class,
                                   error_message=outcome.message[:1000] or None)
        self.metrics.delivery_events.labels(self.name, self.channel, event["status"]).inc()
        return self.publisher.publish(self.names.deliveries, self.codec.encode(DELIVERY, event),
                                      key=event["delivery_id"])
