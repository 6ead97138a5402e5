"""`tidings run router`: consume the four event topics, publish each delivery to its channel
topic of the same priority (key: recipient id) and a `queued` DeliveryEvent, and let the runtime
store the offset only once all of them are acknowledged. Undecodable events, unknown channels
and templates that fail to render go to the dead-letter topic; a channel with no address or one
the recipient opted out of is recorded as `suppressed` (router/personalize.py)."""
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
from router.admission import Admission
from router.fanout import Delivery
from router.personalize import Personalizer, Plan


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
        self.personalizer: Personalizer | None = None
        self.admission: Admission | None = None

    async def start(self) -> None:
        self.personalizer = Personalizer.from_settings(self.settings)
        self.publisher = Publisher.from_settings(self.settings)
        self.dead_letters = DeadLetters(self.publisher, self.names, self.group_id, self.name, self.metrics, self.clock)
        self.admission = Admission(self.settings, self.metrics, self.publisher, self.codec, self.names, self._record,
                                   self.clock, self.name)

    async def close(self) -> None:
        if self.admission is not None:
            self.admission.close()
        if self.publisher is not None:
            self.publisher.close()
        if self.personalizer is not None:
            self.personalizer.close()

    async def handle(self, messages: list[Message]) -> None:
        acks, decoded = [], []
        for raw in messages:
            try:
                event = self.codec.decode(NOTIFICATION, raw.value())
            except DecodeError as exc:
                acks.append(self.dead_letters.poison(raw, "undecodable", str(exc)))
                continue
            if not event["channels"]:
                acks.append(self.dead_letters.poison(raw, "invalid_event", "the event requests no channel"))
                continue
            decoded.append((raw, event))
        decoded, screened = await self.admission.screen(decoded)  # expired and duplicate events stop here
        acks += screened
        plans = await asyncio.to_thread(self.personalizer.plan, [event for _, event in decoded]) if decoded else []
        verdicts = await self.admission.limit([d for p in plans if p.failure is None for d in p.deliveries
                                               if d.suppressed is None and d.refusal is None])
        for (raw, event), plan in zip(decoded, plans):
            if plan.failure is not None:
                acks += self._refuse_rendering(raw, plan)
                continue
            for delivery in plan.deliveries:
                if delivery.suppressed is not None:
                    acks.append(self._record(delivery_event(delivery.message, "suppressed", clock=self.clock, attempt=0,
                                                            stage=self.name, reason=delivery.suppressed,
                                                            error_message=delivery.detail)))
                    continue
                if delivery.refusal is not None:
                    acks += self._refuse(raw, event, delivery)
                    continue
                if (held_back := self.admission.held_back(delivery, verdicts)) is not None:
                    acks += held_back  # over a rate limit: suppressed or deferred
                    continue
                topic = self.names.channel(delivery.channel, lane(event["priority"]))
                acks.append(self.publisher.publish(topic, self.codec.encode(CHANNEL_MESSAGE, delivery.message),
                                                   key=delivery.message["recipient_id"]))
                acks.append(self._record(delivery_event(delivery.message, "queued", clock=self.clock, attempt=0)))
        await asyncio.gather(*acks)

    def _refuse(self, raw: Message, event: dict, delivery: Delivery) -> list[asyncio.Future]:
        """Dead-letter one channel of an event (an unknown channel), keeping the event itself."""
        self.metrics.poison.labels(self.name, raw.topic(), delivery.refusal).inc()
        return [
            self.dead_letters.send(raw, reason=delivery.refusal, error_class=delivery.refusal,
                                   error_message=delivery.detail, identity=identity(delivery.message)),
            self._record(delivery_event(delivery.message, "dead_lettered", clock=self.clock, attempt=0,
                                        stage=self.name, reason=delivery.refusal, error_class=delivery.refusal,
                                        error_message=delivery.detail)),
        ]

    def _refuse_rendering(self, raw: Message, plan: Plan) -> list[asyncio.Future]:
        """A template failed: the event goes to the DLQ once (a replay after a fixed push renders
        it again) and every channel it would have reached records `dead_lettered`."""
        failure, sendable = plan.failure, [d for d in plan.deliveries if d.refusal is None and d.suppressed is None]
        notification = {h.NOTIFICATION_ID: sendable[0].message["notification_id"]}  # the event, not one delivery
        acks = [self.dead_letters.send(raw, reason="render_failed", error_class=failure.kind, error_message=str(failure),
                                       identity=notification)]
        for delivery in sendable:
            acks.append(self._record(delivery_event(delivery.message, "dead_lettered", clock=self.clock, attempt=0,
                                                    stage=self.name, reason="render_failed", error_class=failure.kind,
                                                    error_message=str(failure)[:1000])))
        return acks

    def _record(self, event: dict) -> asyncio.Future:
        self.metrics.count_delivery_event(event)
        return self.publisher.publish(self.names.deliveries, self.codec.encode(DELIVERY, event),
                                      key=event["delivery_id"])
