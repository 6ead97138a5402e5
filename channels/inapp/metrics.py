"""The inbox's Prometheus series, in the gateway's registry: marks by state (seen, read, archived
are also DeliveryEvents), live streams open and refused."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from channels.inapp.inbox import MARKS


class InboxMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.marks = Counter("tidings_inbox_marks_total", "Inbox items marked through the feed API, by state.",
                             ["state"], registry=registry)
        self.streams = Gauge("tidings_inbox_streams", "Live inbox streams open on this gateway process.",
                             registry=registry)
        self.refused = Counter("tidings_inbox_streams_refused_total",
                               "Live inbox streams refused (429) because a limit was reached.", registry=registry)
        for state in MARKS:
            self.marks.labels(state)
