"""The router's admission step: which decoded events and deliveries go on. An event past its
expires_at records `expired` for each channel; a duplicate (router/dedup.py) records `suppressed`
(reason `duplicate`); a delivery over a rate limit (router/rate_limits.py) records `suppressed`
(reason `rate_limited`) or is parked on its channel's retry tier until its window (`retry_scheduled`).
State lives in Postgres when TIDINGS_DATABASE_URL is set (one connection, used in a thread)."""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from datetime import datetime
from typing import Callable

from confluent_kafka import Message

from consumer import failure_headers as h
from consumer.dead_letters import identity
from consumer.events import CHANNEL_MESSAGE, Clock, delivery_event, lane, uuid5_text
from consumer.expiry import expired_event, is_expired
from consumer.metrics import ServiceMetrics
from consumer.postgres import connect
from consumer.priority_slots import rank_of
from consumer.retry_policy import RetryPolicy
from consumer.retry_tiers import tiers_for
from consumer.settings import Settings
from router.dedup import DedupLedger, MemoryDedup, PostgresDedup, Sighting, dedup_key
from router.fanout import Delivery, fan_out
from router.grouped_calls import GroupedCalls
from router.limit_counters import MemoryCounters, PostgresCounters
from router.rate_limits import RateLimits, Verdict

log = logging.getLogger(__name__)

_DUPLICATES = uuid.UUID("0b6d1f5e-8f0c-4b8e-9a53-7d1c0e2f4a11")


class Admission:
    def __init__(self, settings: Settings, metrics: ServiceMetrics, publisher, codec, names,
                 record: Callable[[dict], asyncio.Future], clock: Clock, stage: str = "router"):
        self.settings, self.metrics, self.publisher, self.codec, self.names = settings, metrics, publisher, codec, names
        self.record, self.clock, self.stage = record, clock, stage
        limits = RateLimits.from_settings(settings)
        self.conn = connect(settings.database_url) if settings.database_url else None
        if self.conn is None:
            log.warning("no TIDINGS_DATABASE_URL: deduplication and rate limits are kept in memory and reset "
                        "when the router restarts")
            self.ledger: DedupLedger = MemoryDedup(settings.dedup_window_s)
            self.counters = MemoryCounters(limits)
        else:
            self.ledger = PostgresDedup(self.conn, settings.dedup_window_s)
            self.counters = PostgresCounters(self.conn, limits)
        # One connection, and batches are handled concurrently: their calls are grouped.
        self._database = GroupedCalls(self._connected, blocking=self.conn is not None)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    async def screen(self, decoded: list[tuple[Message, dict]]) -> tuple[list[tuple[Message, dict]], list]:
        """The events that go on, and the acknowledgements of what was recorded for the others."""
        now, acks, live = self.clock(), [], []
        for raw, event in decoded:
            if is_expired(event, now):
                acks += [self.record(expired_event(d.message, self.stage, self.clock, attempt=0)) for d in fan_out(event)]
            else:
                live.append((raw, event))
        # A replay from the dead-letter topic is an operator's decision, not a duplicate.
        replays, unreplayed = [], []
        for raw, event in live:
            (replays if h.REPLAYED_FROM in h.read(raw) else unreplayed).append((raw, event))
        live = unreplayed
        sightings = [Sighting(dedup_key(self.settings.topic_prefix, e), str(e["id"]), position(raw), now)
                     for raw, e in live]
        firsts = await self._database.call(self._claim, sightings, most_urgent(e["priority"] for _, e in live))
        fresh = replays
        for (raw, event), sighting, original in zip(live, sightings, firsts):
            if original.position == sighting.position:
                fresh.append((raw, event))
                continue
            self.metrics.duplicates.labels(self.metrics.service).inc()
            acks += [self.record(duplicate_event(d.message, original, sighting, self.stage, self.clock))
                     for d in fan_out(event)]
        return fresh, acks

    async def limit(self, deliveries: list[Delivery]) -> dict[str, Verdict]:
        """Rate-limit verdicts by delivery id, counted in order."""
        if not deliveries:
            return {}
        messages = [d.message for d in deliveries]
        verdicts = await self._database.call(self._decide, messages, most_urgent(m["priority"] for m in messages))
        decisions = Counter((m["channel"], v.decision) for m, v in zip(messages, verdicts))
        for (channel, decision), count in decisions.items():  # once per batch, not per delivery
            self.metrics.child(self.metrics.rate_limit_decisions, self.metrics.service, channel, decision).inc(count)
        return {m["delivery_id"]: v for m, v in zip(messages, verdicts)}

    def held_back(self, delivery: Delivery, verdicts: dict[str, Verdict]) -> list | None:
        """What to record instead of publishing a delivery over its limit; None when it may go."""
        verdict = verdicts.get(delivery.message["delivery_id"])
        if verdict is None or verdict.decision in ("allowed", "exempt"):
            return None
        message, detail = delivery.message, f"over the rate limit {verdict.rule}"
        if verdict.decision == "suppressed":
            return [self.record(delivery_event(message, "suppressed", clock=self.clock, attempt=0, stage=self.stage,
                                               reason="rate_limited", error_message=detail))]
        return self._defer(message, verdict.until, detail)

    def _defer(self, message: dict, until: datetime, detail: str) -> list:
        """Parked on the channel's retry tier like a paced send: due when its window starts, no attempt used."""
        now, channel = self.clock(), message["channel"]
        step = RetryPolicy(tiers_for(self.settings, channel)).park(max(0.0, (until - now).total_seconds()), now)
        # Its origin is the channel lane it would have gone to, so a later dead letter replays there.
        origin = h.FailureContext(self.names.channel(channel, lane(message["priority"])), -1, -1, now)
        headers = origin.headers(
            attempt=0, error_class="rate_limited", error_message=detail, group=f"{self.settings.group_prefix}.router",
            more={h.DUE_AT: h.iso(step.due_at), h.RETRY_TIER: step.tier.name, **identity(message)})
        topic = self.names.retry(message["channel"], step.tier.name)
        return [self.publisher.publish(topic, self.codec.encode(CHANNEL_MESSAGE, message), key=message["recipient_id"],
                                       headers=headers),
                self.record(delivery_event(message, "retry_scheduled", clock=self.clock, attempt=0, stage=self.stage,
                                           reason="rate_limited", error_class="rate_limited", error_message=detail,
                                           retry_tier=step.tier.name, due_at=step.due_at))]

    def _claim(self, sightings: list[Sighting]) -> list[Sighting]:
        """The first sighting of each sighting's key."""
        first = self.ledger.claim(sightings)
        return [first[s.key] for s in sightings]

    def _decide(self, messages: list[dict]) -> list[Verdict]:
        return self.counters.decide(messages, self.clock())

    def _connected(self, step, *args):
        """Run a step, on a new connection when the last one was lost (Postgres restarted or was
        unreachable); a failure here is an outage the runtime waits out and retries."""
        if self.conn is not None and (self.conn.closed or self.conn.broken):
            log.warning("router admission: Postgres connection lost; reconnecting")
            self.conn = self.ledger.conn = self.counters.conn = connect(self.settings.database_url)
        return step(*args)


def position(raw: Message) -> str:
    return f"{raw.topic()}/{raw.partition()}/{raw.offset()}"


def duplicate_event(message: dict, original: Sighting, duplicate: Sighting, stage: str, clock: Clock) -> dict:
    """`suppressed` (duplicate). A second copy of the same notification gets a delivery id of its
    own (from its position), so its record never overwrites the original delivery's status."""
    if original.notification_id == str(message["notification_id"]):
        message = {**message, "delivery_id": uuid5_text(_DUPLICATES, f"{message['delivery_id']}/{duplicate.position}")}
    return delivery_event(message, "suppressed", clock=clock, attempt=0, stage=stage, reason="duplicate",
                          error_message=f"first seen at {original.position} ({original.notification_id})")


def most_urgent(priorities) -> int:
    # A batch holds a few distinct priorities: rank those, not every event's.
    return min(map(rank_of, set(priorities)), default=rank_of("NORMAL"))
