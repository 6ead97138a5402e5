"""`tidings run channel <name>`: consume the channel's four priority topics and its retry tiers,
send each message through the provider concurrently, and turn each outcome into what comes next:
`sent`, the next retry tier (`retry_scheduled`) or the dead-letter topic (`dead_lettered`).
A message the router held (a scheduled send, quiet hours, a fallback step) rides its next leg until
due, and is sent only if its notification was not cancelled and, for a fallback step, the step is
still needed (channels/held_releases.py); a digest's close marker is sent as the digest's message
from Postgres (channels/digest_closes.py).
The offset is stored only after that is acknowledged by the broker."""
from __future__ import annotations

import asyncio
import logging
import time

from confluent_kafka import Message

from channels.delivery_metrics import observe_delivered, watch_circuits
from channels.digest_closes import DigestCloses, digest_of, is_digest
from channels.fallback_goals import NOT_NEEDED as STEP_NOT_NEEDED, TAKEN
from channels.held_releases import CANCELLED, DUPLICATE, NOT_NEEDED, RELEASE, WAIT, HeldReleases, Verdict
from channels.provider import Provider
from consumer import failure_headers as h
from consumer.channel_specs import registry
from consumer.codec import Codec, DecodeError
from consumer.dead_letter_limit import DeadLetterLimit
from consumer.dead_letters import DeadLetters, identity
from consumer.expiry import expired_event, is_expired
from consumer.holds import next_leg_headers
from consumer.events import CHANNEL_MESSAGE, DELIVERY, Clock, delivery_event, utcnow
from consumer.metrics import ServiceMetrics
from consumer.isolation import describe
from consumer.outages import dependency_of
from consumer.outcomes import INTERNAL_ERROR, Deferred, Delivered, Outcome, Suppressed, Transient
from consumer.priority_slots import PrioritySlots
from consumer.publisher import GATHERED_LINGER_MS, Publisher
from consumer.retry_policy import DeadLetter, Retry, RetryPolicy
from consumer.retry_tiers import tiers_for
from consumer.settings import Settings
from consumer.stream import StreamConsumer
from consumer.topics import Topics
from router.devices import DeadDevices

log = logging.getLogger(__name__)


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
        self.policy = RetryPolicy(tiers_for(settings, channel))
        self.timed_topics = [self.names.retry(channel, t.name) for t in self.policy.tiers]
        self.topics = self.names.all_channel(channel) + self.timed_topics
        self.limit = DeadLetterLimit.from_settings(settings)
        # At least as many send slots as the provider's own concurrency, so the gate orders sends
        # without capping them below what the provider is configured for.
        slots = settings.priority_send_slots
        self.slots = PrioritySlots(max(slots, getattr(provider, "concurrency", 0)) if slots else 0)
        self.publisher: Publisher | None = None
        self.dead_letters: DeadLetters | None = None
        self.stream: StreamConsumer | None = None
        # A channel with devices forgets the ones its service says are gone (router/devices.py).
        self.dead_devices = DeadDevices(settings.database_url) \
            if getattr(registry().get(channel), "devices", False) and settings.database_url else None
        self.held = HeldReleases(settings.database_url, clock)
        self.digests = DigestCloses(settings.database_url, self.codec, clock)

    def bind(self, stream: StreamConsumer) -> None:
        self.stream = stream

    async def start(self) -> None:
        # Nothing downstream waits for what a worker publishes: only its own offsets do.
        self.publisher = Publisher.from_settings(self.settings, linger_ms=GATHERED_LINGER_MS)
        self.dead_letters = DeadLetters(self.publisher, self.names, self.group_id, self.name, self.metrics, self.clock)
        await self.provider.start()
        watch_circuits(self.metrics, self.name, self.channel, self.provider)
        self.metrics.start_series(channels=[self.channel], retry_tiers=[t.name for t in self.policy.tiers],
                                  statuses=("sent", "retry_scheduled", "dead_lettered", "suppressed", "expired",
                                            "cancelled"),
                                  dead_letter_reasons=("undecodable", "permanent", "retries_exhausted"))

    async def close(self) -> None:
        await self.provider.close()
        await self.held.close()
        await self.digests.close()
        if self.dead_devices is not None:
            await self.dead_devices.close()
        if self.publisher is not None:
            self.publisher.close()

    async def handle(self, messages: list[Message]) -> list[tuple[Message, BaseException]]:
        """Every message to its outcome; the ones whose handling raised go back to the runtime
        (consumer.isolation) on their own, so the others are not redone. The held ones are judged
        together first (one Postgres round trip for the batch); a failure there fails the batch."""
        held = await self.held.judge(messages)
        results = await asyncio.gather(*(self._take(m, held.get(id(m))) for m in messages), return_exceptions=True)
        failed = [(m, r) for m, r in zip(messages, results) if isinstance(r, BaseException)]
        for _, error in failed:
            if isinstance(error, asyncio.CancelledError):
                raise error
        return failed

    async def quarantine(self, raw: Message, exc: BaseException) -> None:
        """Dead-letter a message whose handling kept raising, recording `dead_lettered` (internal_error)."""
        try:
            message = self.codec.decode(CHANNEL_MESSAGE, raw.value())
        except DecodeError:
            message = None
        await self._dead_letter(raw, message, DeadLetter("internal_error"), type(exc).__name__, describe(exc))

    async def _take(self, raw: Message, verdict: Verdict | None) -> None:
        """A message without a hold, or a released one, is delivered; a held one rides on or stops.
        A fallback step records why it was taken (`queued`, fallback_taken) or not (`cancelled`,
        fallback_not_needed); a digest's close marker sends the digest's message."""
        if verdict is not None and verdict.action == RELEASE and verdict.hold.step is not None:
            self.metrics.held.labels(self.name, "fallback_taken").inc()
            if not await self._record_held(raw, "queued", TAKEN, verdict.detail):
                return
        if verdict is None or verdict.action not in (WAIT, CANCELLED, DUPLICATE, NOT_NEEDED):
            if verdict is not None and (digest_id := digest_of(raw)) is not None:
                value = await self.digests.close_digest(digest_id)
                if value is None:
                    log.warning("%s: digest %s is not in Postgres; nothing to send", self.name, digest_id)
                    return
                await self._deliver(raw, value)
            else:
                await self._deliver(raw)
            return
        self.metrics.held.labels(self.name, verdict.action).inc()
        if verdict.action == WAIT:  # the same bytes on the next leg: no decode, no record
            step = self.policy.hop(verdict.hold.until, self.clock())
            await self.publisher.publish(self.names.retry(self.channel, step.tier.name), raw.value(), key=raw.key(),
                                         headers=next_leg_headers(raw.headers(), step))
        elif verdict.action in (CANCELLED, NOT_NEEDED):
            reason = verdict.hold.reason if verdict.action == CANCELLED else STEP_NOT_NEEDED
            await self._record_held(raw, "cancelled", reason, verdict.detail)
        else:  # another copy of this delivery went out: this one is not sent (nor recorded)
            log.info("%s: dropped a second copy of held delivery %s (%s)", self.name,
                     h.read(raw).get(h.DELIVERY_ID), verdict.detail)

    async def _record_held(self, raw: Message, status: str, reason: str, detail: str) -> bool:
        """Record what became of a held message (no attempt used); False when it cannot be read
        (then it is dead-lettered as undecodable)."""
        try:
            message = self.codec.decode(CHANNEL_MESSAGE, raw.value())
        except DecodeError as exc:
            await self.dead_letters.poison(raw, "undecodable", str(exc))
            return False
        await self._record(delivery_event(message, status, clock=self.clock, attempt=0, stage=self.name,
                                          reason=reason, error_message=detail or None))
        return True

    async def _deliver(self, raw: Message, value: bytes | None = None) -> None:
        """`value`: what to send instead of the message's own value (a digest's message)."""
        try:
            # Ids as text: the request, the event id and every record of this delivery write them so.
            message = self.codec.decode(CHANNEL_MESSAGE, value or raw.value(), uuid_text=True)
        except DecodeError as exc:
            await self.dead_letters.poison(raw, "undecodable", str(exc))
            return
        due = h.due_at(raw)
        if due is not None:
            self.metrics.child(self.metrics.retry_lateness, self.name).observe(max(0.0, (self.clock() - due).total_seconds()))
        provider = self.provider.name_for(message)
        while True:
            async with self.slots.hold(message["priority"]):  # highest priority first
                if is_expired(message, self.clock()):  # checked last thing before sending
                    await self._record(expired_event(message, self.name, self.clock))
                    return
                started = time.monotonic()
                outcome = await self._send(message)
                took = time.monotonic() - started
            answered = getattr(outcome, "provider", None) or provider  # after failover, the one that answered
            self.metrics.child(self.metrics.send_seconds, self.channel, answered,
                               type(outcome).__name__.lower()).observe(took)
            if await self._next_step(raw, message, outcome, provider, round(took * 1000)):
                return
            await self._hold()

    async def _send(self, message: dict) -> Outcome:
        """The provider's outcome; whatever it raises is an internal error of this message, retried
        through the tiers like a transient failure and dead-lettered as internal_error after them."""
        try:
            return await self.provider.send(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if dependency_of(exc) is not None:
                raise  # the worker's own Postgres or broker: the runtime holds the stage
            log.warning("%s: provider raised on delivery %s", self.name, message["delivery_id"], exc_info=exc)
            return Transient(INTERNAL_ERROR, describe(exc))

    async def _next_step(self, raw: Message, message: dict, outcome: Outcome, provider: str, latency_ms: int) -> bool:
        """Record what follows this outcome; False when the dead-letter limit holds it instead."""
        now = self.clock()
        provider = getattr(outcome, "provider", None) or provider  # the one that answered, after failover
        if isinstance(outcome, Suppressed):
            self.limit.succeeded(now.timestamp())
            if outcome.reason == DeadDevices.REASON and self.dead_devices is not None:
                await self.dead_devices.forget(self.channel, message["address"])
            await self._record(delivery_event(message, "suppressed", clock=self.clock, provider=provider,
                                              latency_ms=latency_ms, reason=outcome.reason,
                                              status_code=outcome.status_code, error_message=outcome.message or None))
            return True
        if isinstance(outcome, Delivered):
            self.limit.succeeded(now.timestamp())
            observe_delivered(self.metrics, self.channel, provider, message, now)
            self.metrics.child(self.metrics.dead_letter_limit, self.name).set(int(self.limit.is_tripped(now.timestamp())))
            sent = dict(provider=provider, latency_ms=latency_ms, status_code=outcome.status_code,
                        provider_message_id=outcome.provider_message_id)
            await self._record(delivery_event(
                message, "sent", clock=self.clock, cost=outcome.cost, cost_currency=outcome.cost_currency,
                error_message=outcome.detail, **sent))  # e.g. per-recipient results when some were refused
            if is_digest(message):  # what was folded into it went out with it
                await asyncio.gather(*(self._record(e) for e in await self.digests.sent_items(message, **sent)))
            return True
        if isinstance(outcome, Deferred):
            await self._park(raw, message, outcome)
            return True
        failure = dict(provider=provider, latency_ms=latency_ms, status_code=outcome.status_code,
                       error_class=outcome.error_class, error_message=outcome.message[:h.MAX_ERROR_MESSAGE] or None)
        step = self.policy.after(message["attempt"], outcome, now)
        if isinstance(step, Retry):
            await self._retry(raw, message, step, outcome, failure)
        elif self.limit.admit_dead_letter(now.timestamp()):
            await self._dead_letter(raw, message, step, outcome.error_class, outcome.message, failure)
        else:
            return False
        return True

    async def _hold(self) -> None:
        """The dead-letter limit tripped: pause the whole consumer (it keeps polling), keep this
        message (its offset is not stored) and try it again when the cool-down is over. A stop
        meanwhile cancels the wait; the message is redone after restart."""
        until = self.limit.tripped_until or self.clock().timestamp()
        self.metrics.dead_letter_limit.labels(self.name).set(1)
        self.stream.hold(until, "dead-letter limit reached: nearly every delivery is failing permanently")
        await asyncio.sleep(max(0.0, until - self.clock().timestamp()))

    async def _retry(self, raw: Message, message: dict, step: Retry, outcome, failure: dict) -> None:
        origin = h.FailureContext.of(raw, self.clock())
        headers = origin.headers(attempt=message["attempt"], error_class=outcome.error_class,
                                 error_message=outcome.message, group=self.group_id,
                                 more={h.DUE_AT: h.iso(step.due_at), h.RETRY_TIER: step.tier.name, **identity(message)})
        retry = {**message, "attempt": message["attempt"] + 1}
        self.metrics.retries.labels(self.name, step.tier.name).inc()
        await asyncio.gather(
            self.publisher.publish(self.names.retry(self.channel, step.tier.name),
                                   self.codec.encode(CHANNEL_MESSAGE, retry), key=raw.key(), headers=headers),
            self._record(delivery_event(message, "retry_scheduled", clock=self.clock, retry_tier=step.tier.name,
                                        due_at=step.due_at, **failure)))

    async def _park(self, raw: Message, message: dict, outcome: Deferred) -> None:
        """Not attempted (the provider is pacing): wait on a retry tier, same attempt number."""
        step = self.policy.park(outcome.wait_s, self.clock())
        headers = h.FailureContext.of(raw, self.clock()).headers(
            attempt=message["attempt"] - 1, error_class=outcome.reason, error_message="", group=self.group_id,
            more={h.DUE_AT: h.iso(step.due_at), h.RETRY_TIER: step.tier.name, **identity(message)})
        self.metrics.deferred.labels(self.name, outcome.reason).inc()
        await self.publisher.publish(self.names.retry(self.channel, step.tier.name),
                                     self.codec.encode(CHANNEL_MESSAGE, message), key=raw.key(), headers=headers)

    async def _dead_letter(self, raw: Message, message: dict | None, step: DeadLetter, error_class: str,
                           error_message: str, failure: dict | None = None) -> None:
        if message is None:  # not even decodable: the bare message
            await self.dead_letters.send(raw, reason=step.reason, error_class=error_class, error_message=error_message)
            return
        failure = failure or dict(error_class=error_class, error_message=error_message[:h.MAX_ERROR_MESSAGE])
        await asyncio.gather(
            self.dead_letters.send(raw, reason=step.reason, error_class=error_class, error_message=error_message,
                                   attempt=message["attempt"], identity=identity(message)),
            self._record(delivery_event(message, "dead_lettered", clock=self.clock, stage=self.name,
                                        reason=step.reason, **failure)))

    def _record(self, event: dict) -> asyncio.Future:
        self.metrics.count_delivery_event(event)
        return self.publisher.publish(self.names.deliveries, self.codec.encode(DELIVERY, event),
                                      key=event["delivery_id"])
