"""The inbox benchmark measures what it says at a tiny size: feed pages read through a gateway
process and straight from Postgres, and every published item reaching every live stream of its
recipient."""
from __future__ import annotations

from bench.inbox import measure


def test_the_inbox_benchmark_reads_pages_and_times_every_live_arrival():
    figures = measure(items=300, reads=60, clients=20, notifications=4)
    assert figures["first_page_reads_per_s"] > 0 and figures["deep_page_query_reads_per_s"] > 0
    assert figures["live_arrivals"] == figures["live_expected_arrivals"] == 4 * 10
    assert 0 < figures["publish_to_client_p50_s"] <= figures["publish_to_client_p99_s"]
