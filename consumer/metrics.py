"""Prometheus metrics of one service process, in a registry of its own (so tests can run several
services in one interpreter), served with /healthz by consumer.health."""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter("tidings_messages_consumed_total", "Messages fetched from Kafka.",
                                ["service", "topic"], registry=r)
        self.completed = Counter("tidings_messages_completed_total",
                                 "Messages whose outcome is durable (offset stored).",
                                 ["service", "topic"], registry=r)
        self.poison = Counter("tidings_poison_messages_total",
                              "Messages that could not be decoded or validated.",
                              ["service", "topic", "reason"], registry=r)
        self.in_flight = Gauge("tidings_in_flight_messages", "Messages fetched but not yet completed.",
                               ["service"], registry=r)
        self.batch_seconds = Histogram("tidings_batch_seconds", "Time to process one fetched batch.",
                                       ["service"], registry=r,
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.consumer_errors = Counter("tidings_consumer_errors_total", "Errors reported by the Kafka client.",
                                       ["service", "code"], registry=r)
        self.delivery_events = Counter("tidings_delivery_events_total", "DeliveryEvents emitted, by status.",
                                       ["service", "channel", "status"], registry=r)
        self.send_seconds = Histogram("tidings_send_seconds", "Time of one delivery attempt to a provider.",
                                      ["channel", "provider", "outcome"], registry=r,
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.dead_lettered = Counter("tidings_dead_lettered_total", "Messages sent to the dead-letter topic.",
                                     ["service", "reason"], registry=r)
        self.retries = Counter("tidings_retries_scheduled_total", "Deliveries moved to a retry tier.",
                               ["service", "tier"], registry=r)
        self.deferred = Counter("tidings_deferred_total",
                                "Messages parked on a retry tier by provider pacing (no attempt used).",
                                ["service", "reason"], registry=r)
        self.retry_lateness = Histogram("tidings_retry_lateness_seconds",
                                        "How long after its due time a retry was attempted.", ["service"],
                                        registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.held = Counter("tidings_held_messages_total",
                            "Held messages (scheduled sends, quiet hours) a channel worker took before they went out: "
                            "wait (rode on to the next leg), cancelled, duplicate (another copy went out).",
                            ["service", "outcome"], registry=r)
        self.held_deliveries = Gauge("tidings_held_deliveries",
                                     "Deliveries whose current status is scheduled or deferred (from Postgres).",
                                     ["service", "status"], registry=r)
        self.held_overdue = Gauge("tidings_held_overdue_deliveries",
                                  "Held deliveries still scheduled or deferred past due_at plus "
                                  "TIDINGS_HELD_OVERDUE_AFTER_S (from Postgres).", ["service", "status"], registry=r)
        self.held_overdue_age = Gauge("tidings_held_overdue_seconds",
                                      "How long past its due_at the oldest overdue held delivery is (0: none).",
                                      ["service", "status"], registry=r)
        self.dead_letter_limit = Gauge("tidings_dead_letter_limit_tripped",
                                       "1 while the dead-letter limit holds the consumer.", ["service"], registry=r)
        self.consumer_lag = Gauge("tidings_consumer_lag",
                                  "Messages behind the partition's high watermark (librdkafka statistics).",
                                  ["service", "topic", "partition"], registry=r)
        self.paused_partitions = Gauge("tidings_paused_partitions",
                                       "Partitions paused (priority, backpressure, retries not yet due, holds).",
                                       ["service", "topic"], registry=r)
        self.rate_limit_decisions = Counter("tidings_rate_limit_decisions_total",
                                            "Rate-limit decisions: allowed, exempt, suppressed, deferred.",
                                            ["service", "channel", "decision"], registry=r)
        self.duplicates = Counter("tidings_duplicates_total",
                                  "Notifications suppressed as duplicates (event id or idempotency key).",
                                  ["service"], registry=r)
        # Tracking, outcomes and state (issue 8); names and labels are documented in docs/observability.md.
        self.produced = Counter("tidings_messages_produced_total", "Messages acknowledged by the broker.",
                                ["service", "topic"], registry=r)
        self.delivery_latency = Histogram("tidings_delivery_latency_seconds",
                                          "From the notification's creation to the provider's acceptance.",
                                          ["channel", "provider", "priority"], registry=r,
                                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
        self.suppressed = Counter("tidings_suppressed_total", "Deliveries suppressed, by reason.",
                                  ["service", "channel", "reason"], registry=r)
        self.circuits_open = Gauge("tidings_circuit_breakers_open",
                                   "Open circuit breakers (SMS: per provider; webhooks: endpoints).",
                                   ["service", "channel", "provider"], registry=r)
        self.assigned_partitions = Gauge("tidings_assigned_partitions", "Partitions assigned to this process.",
                                         ["service"], registry=r)
        self.sink_write_seconds = Histogram("tidings_sink_write_seconds",
                                            "Time to write one batch of DeliveryEvents to Postgres.", ["service"],
                                            registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                                                 5, 10, 30))
        self.sink_events = Counter("tidings_sink_events_total",
                                   "DeliveryEvents the sink wrote (new) or skipped (already recorded).",
                                   ["service", "result"], registry=r)
        self.dlq_depth = Gauge("tidings_dead_lettered_deliveries",
                               "Deliveries whose current status is dead_lettered (the DLQ awaiting replay).",
                               ["service"], registry=r)
        self.dependency_up = Gauge("tidings_dependency_up",
                                   "0 while a dependency (postgres, kafka) fails and holds the stage, else 1.",
                                   ["service", "dependency"], registry=r)
        self.handler_failures = Counter("tidings_handler_failures_total",
                                        "Handler failures: internal_error (the message's) or outage (a dependency's).",
                                        ["service", "kind"], registry=r)
        self.offset_gaps = Counter("tidings_offset_gaps_total",
                                   "Fetched offsets that skipped ahead; the partition was fetched again from the gap.",
                                   ["service", "topic"], registry=r)
        self.healthy = Gauge("tidings_healthy", "1 while the service is consuming normally.",
                             ["service"], registry=r)
        self.in_flight.labels(service).set(0)
        self.healthy.labels(service).set(0)

    def follow_health(self, health: Callable[[], tuple[bool, dict]]) -> None:
        """tidings_healthy asks the check /healthz answers with, at every scrape, so the gauge is 0
        whenever /healthz says 503 (a hold by the dead-letter limit included)."""
        self.healthy.labels(self.service).set_function(lambda: 1 if health()[0] else 0)

    def start_series(self, *, topics: Iterable[str] = (), channels: Iterable[str] = (),
                     statuses: Iterable[str] = (), dead_letter_reasons: Iterable[str] = (),
                     retry_tiers: Iterable[str] = ()) -> None:
        """Create at 0 the labelled series a service knows at start that it may count. A labelled
        counter is exported only from its first increment, and increase() or rate() over a series
        that appears with a burst already counted see no increase: the first burst of dead letters
        would never reach an alert."""
        service, channels = self.service, list(channels)
        for topic in topics:
            self.consumed.labels(service, topic)
            self.completed.labels(service, topic)
        for status in statuses:
            for channel in channels:
                self.delivery_events.labels(service, channel, status)
        for reason in dead_letter_reasons:
            self.dead_lettered.labels(service, reason)
        for tier in retry_tiers:
            self.retries.labels(service, tier)

    @staticmethod
    @lru_cache(maxsize=4096)
    def child(metric, *values: str):
        """metric.labels(*values), kept: what every delivery counts is looked up once, not per
        delivery (labels() takes a lock and rebuilds its key). Only for series that are never
        removed (consumer_lag's are)."""
        return metric.labels(*values)

    def count_delivery_event(self, event: dict) -> None:
        """tidings_delivery_events_total, and tidings_suppressed_total by reason for suppressions."""
        self.child(self.delivery_events, self.service, event["channel"], event["status"]).inc()
        if event["status"] == "suppressed":
            self.suppressed.labels(self.service, event["channel"], event.get("reason") or "unknown").inc()

    def count_delivery_events(self, by_channel: dict[str, int], status: str) -> None:
        """count_delivery_event for many events of one status (not suppressed), by channel."""
        for channel, count in by_channel.items():
            self.child(self.delivery_events, self.service, channel, status).inc(count)

    def count_produced(self, topic: str, count: int = 1) -> None:
        """The Publisher's acknowledgement hook (runs on its poll thread; counters are thread-safe)."""
        self.produced.labels(self.service, topic).inc(count)
