"""Prometheus metrics of the gateway process, in a registry of its own, served on its /metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
