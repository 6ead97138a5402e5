"""The benchmark scenarios `python -m bench.run` knows: which module measures each (a
`measure(**params) -> dict` function), its full and quick sizes, and what each figure is compared
with (a ceiling or baseline from the same run, and the issue's target for the 2-core machine)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ratio:
    """figure / ceiling, measured in the same run; `target` is the least ratio aimed for."""
    figure: str
    ceiling: str
    target: float | None = None

    @property
    def name(self) -> str:
        return f"{self.figure}_over_{self.ceiling}"


@dataclass(frozen=True)
class Limit:
    """A figure that should stay at or below `at_most` (reported, never asserted)."""
    figure: str
    at_most: float


@dataclass(frozen=True)
class Scenario:
    name: str
    module: str
    summary: str
    params: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    ratios: tuple[Ratio, ...] = ()
    limits: tuple[Limit, ...] = ()
    repeats: int = 3


RSS_LIMIT_MB = 300.0

SCENARIOS = (
    Scenario("router", "bench.router",
             "router events/s (one process) vs a raw consume->produce passthrough of the same bytes and the "
             "Avro decode+encode ceiling alone",
             params={"events": 20000}, quick={"events": 3000},
             ratios=(Ratio("router_events_per_s", "codec_ceiling_events_per_s", 0.6),
                     Ratio("router_in_lane_events_per_s", "codec_ceiling_events_per_s"),
                     Ratio("router_events_per_s", "passthrough_events_per_s"))),
    Scenario("personalize", "bench.personalize",
             "the router's personalisation step: events/s resolved from the directory, checked against "
             "preferences and rendered from a template vs the same events with inline content",
             params={"events_count": 20000}, quick={"events_count": 3000},
             ratios=(Ratio("directory_preferences_templates_events_per_s", "inline_events_per_s"),)),
    Scenario("webhooks", "bench.webhooks",
             "webhook provider deliveries/s vs a raw aiohttp blast at the same receiver and vs Apprise",
             params={"messages": 2000, "concurrency": 20}, quick={"messages": 500, "concurrency": 20},
             ratios=(Ratio("provider_deliveries_per_s", "raw_aiohttp_deliveries_per_s", 0.6),
                     Ratio("provider_deliveries_per_s", "apprise_deliveries_per_s", 10.0))),
    Scenario("push", "bench.push",
             "push provider (FCM) deliveries/s vs a raw aiohttp blast of the same bodies with a bearer token at "
             "the same receiver",
             params={"messages": 2000, "concurrency": 20}, quick={"messages": 300, "concurrency": 20},
             ratios=(Ratio("provider_deliveries_per_s", "raw_http_deliveries_per_s", 0.6),)),
    Scenario("email", "bench.email",
             "email provider emails/s vs a raw pooled aiosmtplib blast at the same aiosmtpd and vs "
             "connect-per-message smtplib",
             params={"messages": 2000}, quick={"messages": 300},
             ratios=(Ratio("provider_emails_per_s", "smtplib_connect_per_message_emails_per_s", 5.0),
                     Ratio("provider_emails_per_s", "raw_aiosmtplib_pool_emails_per_s"))),
    Scenario("sink", "bench.sink",
             "sink rows/s (topic -> Postgres) vs one INSERT per row, and vs the batched write alone",
             params={"events": 20000, "single_rows": 2000}, quick={"events": 4000, "single_rows": 500},
             ratios=(Ratio("sink_rows_per_s", "single_insert_rows_per_s", 10.0),
                     Ratio("sink_rows_per_s", "store_batch_rows_per_s"))),
    Scenario("end_to_end", "bench.end_to_end",
             "webhook notifications/s through router + channel + sink (vs the same three stages built from raw "
             "parts, a Celery worker on Redis, and a raw aiohttp blast at the same receiver), CPU per "
             "notification of each process, "
             "created-to-delivered latency at half that rate, peak RSS of each service",
             params={"events": 5000, "latency_seconds": 20.0}, quick={"events": 1500, "latency_seconds": 6.0},
             ratios=(Ratio("notifications_per_s", "raw_pipeline_per_s", 0.6),
                     Ratio("notifications_per_s", "celery_per_s", 5.0),
                     # Celery's CPU per notification over Tidings': at least 4 is Tidings at most 0.25x.
                     Ratio("celery_pipeline_cpu_us", "cpu_us_pipeline", 4.0),
                     Ratio("raw_cpu_us_total", "cpu_us_total"),
                     # The provider's CPU per delivery over the worker's: at least 0.5 is the worker at
                     # most 2x its provider's own cost.
                     Ratio("provider_cpu_us", "cpu_us_channel_webhook", 0.5),
                     Ratio("notifications_per_s", "receiver_ceiling_deliveries_per_s")),
             limits=(Limit("router_rss_mb", RSS_LIMIT_MB), Limit("channel_webhook_rss_mb", RSS_LIMIT_MB),
                     Limit("sink_rss_mb", RSS_LIMIT_MB), Limit("cpu_us_total", 600.0),
                     Limit("latency_p99_s", 0.5))),
    Scenario("end_to_end_neighbour", "bench.end_to_end",
             "the end-to-end scenario with a CPU-bound process running beside the pipeline throughout (paced "
             "at half the rate measured beside it): the latency tail under contention",
             params={"events": 5000, "latency_seconds": 20.0, "neighbour": True},
             quick={"events": 1500, "latency_seconds": 6.0, "neighbour": True},
             limits=(Limit("latency_p99_s", 0.5),), repeats=1),
    Scenario("backlog", "bench.backlog",
             "1,000,000 webhook notifications published with no service running, then drained by router + "
             "channel + sink: deliveries/s over the last tenth vs the first, peak RSS of each service",
             params={"notifications": 1_000_000}, quick={"notifications": 50_000},
             ratios=(Ratio("last_tenth_per_s", "first_tenth_per_s", 0.8),),
             limits=(Limit("router_rss_mb", RSS_LIMIT_MB), Limit("channel_webhook_rss_mb", RSS_LIMIT_MB),
                     Limit("sink_rss_mb", RSS_LIMIT_MB)), repeats=1),
    Scenario("inbox", "bench.inbox",
             "in-app inbox feed pages/s through the gateway for a recipient with 10,000 items (first and deep "
             "cursor page) vs the same query on Postgres, and publish-to-client latency with 1,000 live streams",
             params={"items": 10000, "reads": 2000, "clients": 1000, "notifications": 60},
             quick={"items": 2000, "reads": 300, "clients": 100, "notifications": 15},
             ratios=(Ratio("first_page_reads_per_s", "first_page_query_reads_per_s"),
                     Ratio("deep_page_reads_per_s", "deep_page_query_reads_per_s")),
             limits=(Limit("publish_to_client_p99_s", 1.0),), repeats=1),
    # The slowest scenario (a 100,000-event backlog drains after the trials): about 3 minutes a run.
    Scenario("urgent_under_backlog", "bench.urgent_under_backlog",
             "URGENT publish-to-delivered latency with 100,000 LOW backlogged vs the same with no backlog",
             params={"backlog": 100000, "trials": 20}, quick={"backlog": 20000, "trials": 5},
             ratios=(Ratio("p99_s", "baseline_p99_s"),), limits=(Limit("p99_s", 1.0),)),
    # Once: a full run routes and drains 100,000 twice and waits for send_at, about 4-5 minutes.
    Scenario("scheduling", "bench.scheduling",
             "100,000 scheduled webhook deliveries coming due at once drained by the worker (deliveries/s, and "
             "arrival minus send_at p50/p99) vs the same deliveries undeferred, routed and drained in the same run",
             params={"deliveries": 100000}, quick={"deliveries": 5000},
             ratios=(Ratio("deferred_deliveries_per_s", "undeferred_deliveries_per_s", 0.8),),
             limits=(Limit("early", 0),), repeats=1),
)


def by_name(names: list[str] | None) -> list[Scenario]:
    """The scenarios asked for, in registry order; an unknown name is an error that lists the known."""
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in SCENARIOS if s.name in names]
