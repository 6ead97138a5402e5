"""Prometheus metrics of the gateway process, in a registry of its own, served on its /metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# What a receipt endpoint did with one callback (tidings_receipt_callbacks_total's outcome).
CALLBACK_OUTCOMES = ("recorded", "duplicate", "ignored", "invalid", "refused", "rate_limited", "too_large")


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("tidings_gateway_requests_total", "HTTP requests answered, by route and status.",
                                ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram("tidings_gateway_request_seconds", "Time to answer one request.",
                                         ["route"], registry=r,
                                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.published = Counter("tidings_gateway_notifications_published_total",
                                 "Notifications acknowledged by the broker, by priority and origin.",
                                 ["priority", "origin"], registry=r)
        self.rate_limited = Counter("tidings_gateway_rate_limited_total", "Requests answered 429, by channel.",
                                    ["channel"], registry=r)
        self.alertmanager = Counter("tidings_gateway_alertmanager_total",
                                    "Alertmanager group notifications, by outcome (published, duplicate).",
                                    ["outcome"], registry=r)
        self.audit_failures = Counter("tidings_gateway_audit_failures_total",
                                      "Audit rows that could not be written (logged instead).", registry=r)
        self.receipts = Counter("tidings_receipts_total",
                                "Receipts recorded as DeliveryEvents, by channel, provider (the receipt's source), "
                                "status and bounce kind (hard, soft; empty for other statuses).",
                                ["channel", "provider", "status", "bounce"], registry=r)
        self.receipt_callbacks = Counter("tidings_receipt_callbacks_total",
                                         "Receipts a provider sent, by source and outcome: " + ", ".join(
                                             CALLBACK_OUTCOMES) + ".", ["source", "outcome"], registry=r)
        self.receipt_listings = Counter("tidings_receipt_listings_total",
                                        "Addresses receipts put on a tenant's suppression list, by channel and reason.",
                                        ["channel", "reason"], registry=r)
        self.receipts_waiting = Gauge("tidings_receipts_waiting",
                                      "Receipts stored and not yet matched to a delivery recorded sent.", registry=r)

    def start_receipts(self, source: str, channel: str, statuses: tuple[str, ...]) -> None:
        """Export a source's series at 0 from the start, so its first burst shows in rate()."""
        for status in statuses:
            for bounce in (("hard", "soft") if status == "bounced" else ("",)):
                self.receipts.labels(channel, source, status, bounce)
        for outcome in CALLBACK_OUTCOMES:
            self.receipt_callbacks.labels(source, outcome)
