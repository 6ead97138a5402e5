"""Every service exports, from its start and at 0, the labelled series it knows it may count: a
series that appears with its first burst already counted is invisible to increase() and rate(),
so that burst never reaches an alert (tests/deploy/test_alerting_path.py shows it with Prometheus)."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(process) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value, from the process's /metrics."""
    status, text = process.get("/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def at_zero(found: dict, name: str, **labels: str) -> bool:
    return found.get((name, tuple(sorted(labels.items())))) == 0


def test_router_channel_worker_and_sink_start_their_series_at_zero(services):
    router, worker, sink = services.start_pipeline()
    topics = services.settings.topic_prefix

    found = samples(router)
    for reason in ("undecodable", "invalid_event", "unknown_channel", "render_failed", "too_large", "internal_error"):
        assert at_zero(found, "tidings_dead_lettered_total", service="router", reason=reason), reason
    for channel in ("email", "slack", "sms", "webhook"):
        for status in ("queued", "suppressed", "dead_lettered"):
            assert at_zero(found, "tidings_delivery_events_total", service="router", channel=channel, status=status)
    assert at_zero(found, "tidings_messages_completed_total", service="router", topic=f"{topics}.events.urgent")

    found = samples(worker)
    for reason in ("undecodable", "permanent", "retries_exhausted", "internal_error"):
        assert at_zero(found, "tidings_dead_lettered_total", service="channel-webhook", reason=reason), reason
    for status in ("sent", "retry_scheduled", "dead_lettered"):
        assert at_zero(found, "tidings_delivery_events_total", service="channel-webhook", channel="webhook",
                       status=status), status
    for tier in services.settings.retry_tiers.split(","):
        assert at_zero(found, "tidings_retries_scheduled_total", service="channel-webhook", tier=tier), tier

    found = samples(sink)
    for reason in ("undecodable", "invalid_event", "internal_error"):
        assert at_zero(found, "tidings_dead_lettered_total", service="sink", reason=reason), reason
    assert found[("tidings_healthy", (("service", "sink"),))] == 1  # as its /healthz: 200
