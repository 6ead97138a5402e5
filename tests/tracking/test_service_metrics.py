"""What each service's /metrics says after a known run on the real broker and Postgres: produced
and consumed per topic, created-to-sent latency, provider outcomes, sink writes, assignments;
and the open-circuit gauge read from a real circuit breaker."""
from __future__ import annotations

import asyncio
import time

from prometheus_client import generate_latest

from channels.delivery_metrics import watch_circuits
from channels.webhook.provider import WebhookProvider
from channels.webhook.bulkhead import EndpointBulkhead
from consumer.metrics import ServiceMetrics
from consumer.outcomes import Delivered, Transient
from consumer.settings import Settings
from consumer.topics import PRIORITIES, Topics
from tests.pipeline import make_notifications, publish, wait_for_statuses


def settled(process, name: str, expected: float, timeout: float = 60, **labels: str) -> float:
    """The metric once it reaches `expected` (counters are bumped just after the durable write),
    or its last value after the deadline, for the assertion to report."""
    deadline = time.monotonic() + timeout
    value = process.metric(name, **labels)
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        value = process.metric(name, **labels)
    return value


def test_each_service_reports_what_it_did(pipeline, services, webhook_receiver):
    router, channel, sink = services.start_pipeline()
    good = make_notifications(40, webhook_receiver.url)
    unroutable = make_notifications(2, webhook_receiver.url)
    for n in unroutable:
        n["recipient"]["webhook_url"] = None  # the router records these as suppressed (no_address)
    publish(pipeline, good + unroutable)
    wait_for_statuses(pipeline.database_url, [n["id"] for n in good])
    wait_for_statuses(pipeline.database_url, [n["id"] for n in unroutable], statuses=("suppressed",))
    names = Topics(pipeline.topic_prefix)

    assert settled(router, "tidings_messages_consumed_total", 42, service="router") == 42
    assert settled(router, "tidings_messages_produced_total", 42, topic=names.deliveries) == 42
    assert settled(router, "tidings_suppressed_total", 2, channel="webhook", reason="no_address") == 2
    assert router.metric("tidings_messages_produced_total", topic=names.dlq) == 0
    assert sum(router.metric("tidings_messages_produced_total", topic=names.channel("webhook", p))
               for p in PRIORITIES) == 40

    assert settled(channel, "tidings_delivery_latency_seconds_count", 40, channel="webhook", provider="http") == 40
    assert channel.metric("tidings_send_seconds_count", channel="webhook", provider="http", outcome="delivered") == 40
    assert channel.metric("tidings_messages_produced_total", topic=names.deliveries) == 40
    assert 'tidings_circuit_breakers_open{channel="webhook",provider="http",service="channel-webhook"} 0.0' \
        in channel.get("/metrics")[1]

    # 40 queued + 40 sent + 2 suppressed, each written once.
    assert settled(sink, "tidings_sink_events_total", 82, result="new") == 82
    assert sink.metric("tidings_sink_events_total", result="duplicate") == 0
    assert sink.metric("tidings_sink_write_seconds_count") >= 1
    for process in (router, channel, sink):
        assert process.metric("tidings_assigned_partitions") > 0


def test_the_sink_reports_the_dead_letter_depth(pipeline, services, webhook_receiver):
    """Refreshed on its own clock (every 15 s), so it catches up after the last batch too."""
    webhook_receiver.status = 404  # permanent: each delivery is dead-lettered at once
    _, _, sink = services.start_pipeline()
    notifications = make_notifications(3, webhook_receiver.url)
    publish(pipeline, notifications)
    wait_for_statuses(pipeline.database_url, [n["id"] for n in notifications], statuses=("dead_lettered",))
    assert settled(sink, "tidings_dead_lettered_deliveries", 3, timeout=90) == 3


def test_the_circuit_gauge_follows_the_breaker():
    metrics = ServiceMetrics("channel-webhook")
    provider = WebhookProvider(Settings())
    now = [0.0]
    provider.bulkhead = EndpointBulkhead(failures=2, cooldown_s=30, clock=lambda: now[0])
    watch_circuits(metrics, "channel-webhook", "webhook", provider)

    def gauge() -> str:
        line = next(line for line in generate_latest(metrics.registry).decode().splitlines()
                    if line.startswith("tidings_circuit_breakers_open{"))
        return line.rsplit(" ", 1)[1]

    async def attempt(outcome):
        return await provider.bulkhead.run("http://hooks.example.com/a", lambda: _answer(outcome))

    assert gauge() == "0.0"
    asyncio.run(attempt(Transient("http_503", "down", 503)))
    assert gauge() == "0.0"  # one failure of two
    asyncio.run(attempt(Transient("http_503", "down", 503)))
    assert gauge() == "1.0"
    now[0] = 31.0  # half-open: a probe may go, the circuit is no longer counted as open
    assert gauge() == "0.0"
    asyncio.run(attempt(Delivered(200)))
    assert gauge() == "0.0"


async def _answer(outcome):
    return outcome
