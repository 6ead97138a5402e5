"""`tidings run <service>`: builds the service from settings and hands it to the runtime."""
from __future__ import annotations

import argparse

from consumer import service as runtime
from consumer.metrics import ServiceMetrics
from consumer.settings import Settings


def run_service(args: argparse.Namespace, settings: Settings) -> int:
    runtime.configure_logging(settings.log_level)
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
            migrate(settings.database_url)
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
