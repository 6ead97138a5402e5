"""`tidings run router`: consume the four event topics, publish each delivery to its channel
topic of the same priority (key: recipient id) and a `queued` DeliveryEvent, and let the runtime
store the offset only once all of them are acknowledged. Undecodable events, unknown channels
and templates that fail to render go to the dead-letter topic; a channel with no address, one the
recipient opted out of, or an address on its tenant's suppression list is recorded as `suppressed`
(router/personalize.py). A scheduled send (send_at) or a delivery in the recipient's quiet hours goes
to its channel's retry tiers instead, held until then (consumer/holds.py), recorded `scheduled` or
`deferred`, and so does each later step of a channel fallback (router/fallback.py, `scheduled` with
reason fallback); held deliveries are not rate-limited here. A delivery with a digest (the event's own
or a category rule) is folded into its digest in Postgres instead, recorded `digested` (router/digests.py)."""
from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.codec import Codec, DecodeError
from consumer.dead_letters import DeadLetters
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION, Clock, delivery_event, lane, utcnow
from consumer.holds import DIGEST, QUIET_HOURS, Hold, first_leg
from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.retry_policy import RetryPolicy
from consumer.retry_tiers import tiers_for
from consumer.settings import Settings
from consumer.topics import Topics
from consumer.channel_specs import channel_names, folded_addresses
from consumer.notification_json import MAX_CHANNELS  # more distinct channels than this: refused whole
from router.admission import Admission, most_urgent
from router.digests import DigestBook, Folded, digest_of, parse_rules
from consumer.isolation import describe
from router.fallback import describe as describe_step, invalid_fallback
from router.fanout import Delivery, fan_out
from router.grouped_calls import GroupedCalls
from router.personalize import Personalizer
from router.validation import distinct_channels, invalid_field


class RouterService:
    name = "router"
    # A quiet stream is gathered for the runtime's 0.02 s, as the workers' is: with the runtime's
    # small prefetch, 0.1 s paused no lane less (test_priority_lanes) and only added latency (paced
    # at 550/s, p50 0.21-0.25 s against 0.15-0.20 s, for 40-80 us less router CPU per notification).

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
        self.digest_rules = parse_rules(settings.digest_rules)
        self.digests: DigestBook | None = None
        # The planner's lookups take the waiting batches' events together (router/grouped_calls.py):
        # looked up one batch at a time, small batches at a steady rate queued for them for seconds
        # on a busy machine (a few round trips whatever the size). Renders stay concurrent. The
        # digests' connection has a thread of its own, so it never waits behind the others.
        self._planning = GroupedCalls(lambda plan, events: plan(events), thread_name="router-plan",
                                      blocking=bool(settings.database_url))
        self._folding = ThreadPoolExecutor(1, thread_name_prefix="router-digests")
        self._channel_topics: dict[tuple[str, str], str] = {}

    async def start(self) -> None:
        """Called again after a Postgres outage at start: what was made already is kept."""
        if self.publisher is None:
            self.publisher = Publisher.from_settings(self.settings)
            self.dead_letters = DeadLetters(self.publisher, self.names, self.group_id, self.name, self.metrics,
                                            self.clock)
        self.personalizer = self.personalizer or Personalizer.from_settings(self.settings, self.clock)
        if self.digests is None and self.settings.database_url:  # without Postgres nothing is folded
            self.digests = DigestBook(self.settings.database_url, self.personalizer.renderer, self.codec,
                                      self.settings.digest_max_items, self.settings.template_cache_ttl_s, self.clock)
        self.admission = self.admission or Admission(self.settings, self.metrics, self.publisher, self.codec,
                                                     self.names, self._record, self.clock, self.name)
        self.metrics.start_series(channels=channel_names(),
                                  statuses=("queued", "suppressed", "retry_scheduled", "dead_lettered", "scheduled",
                                            "deferred", "digested"),
                                  dead_letter_reasons=("undecodable", "invalid_event", "unknown_channel", "render_failed",
                                                       "too_large", "internal_error"))

    async def close(self) -> None:
        if self.digests is not None:
            self.digests.close()
        if self.admission is not None:
            self.admission.close()
        if self.publisher is not None:
            self.publisher.close()
        if self.personalizer is not None:
            self.personalizer.close()

    async def handle(self, messages: list[Message]) -> None:
        """Decode, screen, plan, then publish. Everything that can fail on a message's content is
        worked out before the first publish, so a batch that raises has published nothing."""
        acks, decoded = [], []
        for raw in messages:
            try:
                # The id as text: every id made from it starts from that.
                event = self.codec.decode(NOTIFICATION, raw.value(), uuid_text=True)
            except DecodeError as exc:
                acks.append(self.dead_letters.poison(raw, "undecodable", str(exc)))
                continue
            if (problem := self._invalid(event)) is not None:
                acks += self._refuse_invalid(raw, event, problem)
                continue
            # Completed in place (the decoded record is this batch's own): v1-v3 address fields folded.
            event["recipient"]["addresses"] = folded_addresses(event["recipient"])
            event["channels"] = distinct_channels(event)
            decoded.append((raw, event))
        decoded, screened = await self.admission.screen(decoded)  # expired and duplicate events stop here
        acks += screened
        plans = await self._planning.call(self.personalizer.look_up, [event for _, event in decoded],
                                          most_urgent(event["priority"] for _, event in decoded))
        if any(plan.renders for plan in plans):  # inline content has nothing to render
            plans = await asyncio.to_thread(self.personalizer.render, plans)
        folded = {id(plan) for (_, event), plan in zip(decoded, plans) if self._digest(event, plan) is not None}
        verdicts = await self.admission.limit([  # a digest is one message: its items are not rate-limited
            d for p in plans if p.failure is None and id(p) not in folded for d in p.deliveries
            if d.suppressed is None and d.refusal is None and d.hold is None])
        work = []  # (event, delivery, key, window_s): folded into digests before anything is published
        outputs = []  # (topic, value, key, headers), published together once everything is worked out
        queued = Counter()  # channel -> deliveries recorded `queued`, counted once per batch
        deliveries_topic = self.names.deliveries
        for (raw, event), plan in zip(decoded, plans):
            if plan.failure is not None:
                acks += self._refuse_event(raw, event, plan.deliveries, "render_failed", plan.failure.kind, str(plan.failure))
                continue
            fanned = self._fan_out(event, plan.deliveries)
            if isinstance(fanned, int):
                acks += self._refuse_event(raw, event, plan.deliveries, "too_large", "too_large",
                                           f"a channel message of {fanned:,} bytes is over TIDINGS_MAX_MESSAGE_BYTES "
                                           f"({self.settings.max_message_bytes:,})")
                continue
            if unknown := [d for d in plan.deliveries if d.refusal is not None]:
                acks += self._refuse_channels(raw, unknown)
            for delivery, value in fanned:
                if delivery.suppressed is not None:
                    acks.append(self._record(delivery_event(delivery.message, "suppressed", clock=self.clock, attempt=0,
                                                            stage=self.name, reason=delivery.suppressed,
                                                            error_message=delivery.detail)))
                elif delivery.hold is not None:
                    outputs += self._held(delivery, value)
                elif (digest := self._digest(event, plan)) is not None:
                    work.append((event, delivery, *digest))
                elif (held_back := self.admission.held_back(delivery, verdicts)) is not None:
                    acks += held_back  # over a rate limit: suppressed or deferred
                else:
                    outputs.append((self._channel_topic(delivery.channel, event["priority"]), value,
                                    delivery.message["recipient_id"], None))
                    record = delivery_event(delivery.message, "queued", clock=self.clock, attempt=0)
                    queued[delivery.channel] += 1
                    outputs.append((deliveries_topic, self.codec.encode(DELIVERY, record),
                                    delivery.message["delivery_id"], None))
        self.metrics.count_delivery_events(queued, "queued")
        if work:
            folds = await asyncio.get_running_loop().run_in_executor(self._folding, self.digests.fold, work)
            outputs += [o for folded in folds for o in self._digested(folded)]
        acks.append(self.publisher.publish_batch(outputs))
        await asyncio.gather(*acks)

    def _channel_topic(self, channel: str, priority: str) -> str:
        """The channel's topic of the priority's lane, named once per process (every delivery asks)."""
        topic = self._channel_topics.get((channel, priority))
        if topic is None:
            topic = self._channel_topics[(channel, priority)] = self.names.channel(channel, lane(priority))
        return topic

    def _held(self, delivery: Delivery, value: bytes) -> list[tuple]:
        """A held delivery: on its channel's first leg until its hold ends, and `scheduled` (send_at,
        a fallback step) or `deferred` (quiet_hours) with due_at, no attempt used."""
        message, hold, now = delivery.message, delivery.hold, self.clock()
        policy = RetryPolicy(tiers_for(self.settings, delivery.channel))
        topic, _, headers = first_leg(message, hold, policy, self.names, self.group_id, now)
        detail = f"in the recipient's quiet hours until {hold.until:%Y-%m-%d %H:%M} UTC" \
            if hold.reason == QUIET_HOURS else describe_step(hold) if hold.step is not None else None
        record = delivery_event(message, hold.status, clock=self.clock, attempt=0, stage=self.name, reason=hold.reason,
                                due_at=hold.until, error_message=detail)
        return [(topic, value, message["recipient_id"], headers),
                (self.names.deliveries, self._encode_record(record), message["delivery_id"], None)]

    def _digest(self, event: dict, plan) -> tuple[str, float] | None:
        """(key, window_s) when the event's deliveries fold into a digest (needs Postgres)."""
        if self.digests is None or plan.failure is not None:
            return None
        return digest_of(event, self.digest_rules, self.personalizer.critical)

    def _digested(self, folded: Folded) -> list[tuple]:
        """A folded delivery: `digested` until its digest closes, and the digest's close marker when
        this delivery opened (or filled) it: its message held until then (tidings-digest: its id)."""
        message, now = folded.delivery.message, self.clock()
        record = delivery_event(message, "digested", clock=self.clock, attempt=0, stage=self.name, reason=DIGEST,
                                due_at=folded.closes_at,
                                error_message=f"folded into digest {folded.digest_id} ({folded.key!r}), closing at "
                                              f"{folded.closes_at:%Y-%m-%d %H:%M:%S} UTC")
        outputs = [(self.names.deliveries, self._encode_record(record), message["delivery_id"], None)]
        if folded.marker is not None:
            marker = folded.marker
            policy = RetryPolicy(tiers_for(self.settings, marker["channel"]))
            topic, _, headers = first_leg(marker, Hold(folded.marker_due, DIGEST), policy, self.names, self.group_id,
                                          now)
            outputs.append((topic, self.codec.encode(CHANNEL_MESSAGE, marker), marker["recipient_id"],
                            headers + [(h.DIGEST, folded.digest_id.encode())]))
        return outputs

    def _invalid(self, event: dict) -> str | None:
        """Why an event from any producer cannot be routed (the field at fault), or None."""
        if not event["channels"]:
            return "channels: the event requests no channel"
        if (problem := invalid_field(event)) is not None:  # more than MAX_CHANNELS distinct ones too
            return problem
        return invalid_fallback({**event, "channels": distinct_channels(event)}) if event.get("fallback") else None

    def _refuse_invalid(self, raw: Message, event: dict, problem: str) -> list[asyncio.Future]:
        """An event no stage can route: dead-lettered once, and each channel it names that a worker
        serves records `dead_lettered` (invalid_event), so `tidings status` tells why."""
        self.metrics.poison.labels(self.name, raw.topic(), "invalid_event").inc()
        known = [c for c in distinct_channels(event)[:MAX_CHANNELS] if c in channel_names()]
        return self._refuse_event(raw, event, fan_out({**event, "channels": known}), "invalid_event", "invalid_event",
                                  problem)

    def _fan_out(self, event: dict, deliveries: list[Delivery]) -> list[tuple[Delivery, bytes | None]] | int:
        """Each delivery with its encoded ChannelMessage (None when it will not be sent), or the
        size of one that is over the broker's limit: the event then goes nowhere but the DLQ."""
        fanned = []
        for delivery in deliveries:
            if delivery.refusal is not None:
                continue
            value = None
            if delivery.suppressed is None:
                value = self.codec.encode(CHANNEL_MESSAGE, delivery.message)
                if len(value) > self.settings.max_message_bytes:
                    return len(value)
            fanned.append((delivery, value))
        return fanned

    def _refuse_channels(self, raw: Message, unknown: list[Delivery]) -> list[asyncio.Future]:
        """Channels no worker serves: one dead letter for the event (naming them all), and each of
        those deliveries records `dead_lettered`; the event's other channels go on."""
        detail = f"unknown channel(s) {', '.join(repr(d.channel) for d in unknown)}"
        self.metrics.poison.labels(self.name, raw.topic(), "unknown_channel").inc()
        acks = [self.dead_letters.send(raw, reason="unknown_channel", error_class="unknown_channel",
                                       error_message=detail, identity=_notification(unknown[0].message))]
        for delivery in unknown:
            acks.append(self._record(delivery_event(delivery.message, "dead_lettered", clock=self.clock, attempt=0,
                                                    stage=self.name, reason="unknown_channel",
                                                    error_class="unknown_channel", error_message=delivery.detail)))
        return acks

    def _refuse_event(self, raw: Message, event: dict | None, deliveries: list[Delivery], reason: str,
                      error_class: str, error_message: str) -> list[asyncio.Future]:
        """The event goes to the DLQ once (a replay after the cause is fixed routes it again) and
        every channel it would have reached records `dead_lettered`."""
        sendable = [d for d in deliveries if d.refusal is None and d.suppressed is None]
        acks = [self.dead_letters.send(raw, reason=reason, error_class=error_class, error_message=error_message,
                                       identity=_notification(event))]
        for delivery in sendable:
            acks.append(self._record(delivery_event(delivery.message, "dead_lettered", clock=self.clock, attempt=0,
                                                    stage=self.name, reason=reason, error_class=error_class,
                                                    error_message=error_message[:1000])))
        return acks

    async def quarantine(self, raw: Message, exc: BaseException) -> None:
        """An event whose routing kept raising: dead-lettered once as internal_error, and each of its
        channels records `dead_lettered` (when the event can still be read)."""
        try:
            event = self.codec.decode(NOTIFICATION, raw.value())
            known = [c for c in distinct_channels(event)[:MAX_CHANNELS] if c in channel_names()]
            deliveries = fan_out({**event, "channels": known})
        except Exception:  # noqa: BLE001 - it is being dead-lettered because it breaks things
            event, deliveries = None, []
        await asyncio.gather(*self._refuse_event(raw, event, deliveries, "internal_error", type(exc).__name__,
                                                 describe(exc)))

    def _record(self, event: dict) -> asyncio.Future:
        return self.publisher.publish(self.names.deliveries, self._encode_record(event), key=event["delivery_id"])

    def _encode_record(self, event: dict) -> bytes:
        self.metrics.count_delivery_event(event)
        return self.codec.encode(DELIVERY, event)


def _notification(record: dict | None) -> dict[str, str]:
    """The DLQ header naming the notification (an event's id, or a ChannelMessage's notification_id)."""
    if record is None:
        return {}
    return {h.NOTIFICATION_ID: str(record.get("notification_id") or record.get("id"))}
