"""The push scenario: a small run through the real provider and the raw blast at one receiver
process, returning every figure its Scenario compares."""
from __future__ import annotations

from bench import push
from bench.scenarios import by_name


def test_a_small_push_run_gives_both_rates_and_the_figures_its_ratio_names():
    figures = push.measure(messages=40, concurrency=5)  # raises when a provider send is not Delivered
    assert figures["provider_deliveries_per_s"] > 0 and figures["raw_http_deliveries_per_s"] > 0
    (scenario,) = by_name(["push"])
    assert scenario.module == "bench.push"
    assert all({r.figure, r.ceiling} <= set(figures) for r in scenario.ratios)
