"""`tidings run <service>`: builds the service from settings and hands it to the runtime."""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import time

from consumer import service as runtime
from consumer.isolation import describe
from consumer.outages import Backoff, dependency_of
from consumer.metrics import ServiceMetrics
from consumer.settings import Settings

log = logging.getLogger(__name__)


def wait_out_outages(step, name: str) -> None:
    """Run a start-up step, waiting out an outage of Postgres or the broker (logged, backoff up to
    30 s) instead of exiting; any other error is raised."""
    for attempt in itertools.count(1):
        try:
            step()
            return
        except Exception as exc:
            dependency = dependency_of(exc)
            if dependency is None:
                raise
            delay = Backoff(1.0, 30.0).delay(attempt)
            log.error("%s cannot start: %s is unavailable (%s); trying again in %.0fs", name, dependency,
                      describe(exc), delay)
            time.sleep(delay)


def run_service(args: argparse.Namespace, settings: Settings) -> int:
    runtime.configure_logging(settings.log_level)
    # Every Postgres connection of the process says which service it is (pg_stat_activity), unless
    # the operator named it (libpq reads PGAPPNAME).
    os.environ.setdefault("PGAPPNAME", "-".join(["tidings", args.service, *filter(None, [getattr(args, "channel", None)])]))
    if args.service == "router":
        from router.rate_limits import RateLimits
        from router.service import RouterService
        try:
            RateLimits.from_settings(settings)  # a malformed rule stops here, naming its variable
        except ValueError as exc:
            print(f"tidings: {exc}")
            return 2
        if settings.database_url:  # dedup and rate-limit state live in Postgres
            from tracking.migrate import migrate
            wait_out_outages(lambda: migrate(settings.database_url), "router")
        metrics = ServiceMetrics("router")
        return runtime.run(RouterService(settings, metrics), settings, metrics)
    if args.service == "channel":
        from channels.registry import provider_for
        from channels.worker import ChannelWorker
        try:
            provider = provider_for(args.channel, settings)
        except ValueError as exc:
            print(f"tidings: {exc}")
            return 2
        metrics = ServiceMetrics(f"channel-{args.channel}")
        return runtime.run(ChannelWorker(args.channel, provider, settings, metrics), settings, metrics)
    if args.service == "sink":
        from tracking.sink import SinkService
        if not settings.database_url:
            print("tidings: the sink needs TIDINGS_DATABASE_URL (a PostgreSQL conninfo or URL)")
            return 2
        metrics = ServiceMetrics("sink")
        return runtime.run(SinkService(settings, metrics), settings, metrics)
    return 2
