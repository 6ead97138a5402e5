"""The scheduling benchmark measures what it says at a tiny size: the same notifications delivered
undeferred and then scheduled for one instant, every scheduled one arriving once it is due, none
early, each claimed once in Postgres."""
from __future__ import annotations

from bench.scheduling import measure


def test_the_scheduling_benchmark_drains_every_scheduled_delivery_after_its_send_at():
    figures = measure(deliveries=300)
    assert figures["deferred_arrived"] == figures["claimed"] == 300
    assert figures["early"] == 0 and figures["first_after_due_s"] >= 0
    assert figures["ready_ahead_of_due_s"] > 0  # the drain was the worker's alone
    assert figures["deferred_deliveries_per_s"] > 0 and figures["undeferred_deliveries_per_s"] > 0
    assert figures["first_after_due_s"] <= figures["due_error_p50_s"] <= figures["due_error_p99_s"] <= figures["due_error_max_s"]
