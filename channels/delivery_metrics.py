"""What the channel worker reports to Prometheus beyond the runtime's counters: created-to-sent
latency and the providers' open circuit breakers (read at scrape time)."""
from __future__ import annotations

from datetime import datetime

from channels.provider import Provider
from consumer.events import lane
from consumer.metrics import ServiceMetrics


def observe_delivered(metrics: ServiceMetrics, channel: str, provider: str, message: dict, now: datetime) -> None:
    """tidings_delivery_latency_seconds: from the notification's created_at to now (sent)."""
    created = message.get("created_at")
    if isinstance(created, datetime):
        metrics.child(metrics.delivery_latency, channel, provider, lane(message["priority"])).observe(
            max(0.0, (now - created).total_seconds()))


def watch_circuits(metrics: ServiceMetrics, service: str, channel: str, provider: Provider) -> None:
    """tidings_circuit_breakers_open per provider, for providers that keep circuit breakers
    (an `open_circuits() -> {provider: count}` method); the gauge asks them at every scrape."""
    open_circuits = getattr(provider, "open_circuits", None)
    if open_circuits is None:
        return
    for name in open_circuits():
        metrics.circuits_open.labels(service, channel, name).set_function(
            lambda name=name: open_circuits().get(name, 0))
