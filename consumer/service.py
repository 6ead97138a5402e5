"""Runs one service process: logging, the /metrics + /healthz server, SIGTERM/SIGINT handling,
the stream consumer, and a clean shutdown (drain, commit, close) with exit code 0."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Protocol, Sequence

from confluent_kafka import Message

from consumer import health
from consumer.metrics import ServiceMetrics
from consumer.settings import Settings
from consumer.stream import StreamConsumer

log = logging.getLogger(__name__)


class Service(Protocol):
    """What a service gives the runtime: where it reads and what it does with a batch."""

    name: str
    group_id: str
    topics: Sequence[str]

    async def start(self) -> None: ...
    async def handle(self, messages: list[Message]) -> None: ...
    async def close(self) -> None: ...


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def run(service: Service, settings: Settings, metrics: ServiceMetrics) -> int:
    """Blocking entry point for `tidings run ...`; returns the process exit code."""
    try:
        asyncio.run(serve(service, settings, metrics))
    except Exception:
        log.exception("%s stopped on an error", service.name)
        return 1
    return 0


async def serve(service: Service, settings: Settings, metrics: ServiceMetrics,
                stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, _request_stop, service.name, sig, stop)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    stream = StreamConsumer(settings, metrics, service.group_id, service.topics, service.handle,
                            batch_size=getattr(service, "batch_size", None),
                            max_in_flight=getattr(service, "max_in_flight", None))
    if hasattr(service, "bind"):
        service.bind(stream)  # services that defer or hold messages (retries, the dead-letter limit)
    runner, port = await health.serve(metrics, stream.health, settings.metrics_host, settings.metrics_port)
    log.info("%s: /metrics and /healthz on port %d; consuming %s as group %s",
             service.name, port, ", ".join(service.topics), service.group_id)
    metrics.assigned_partitions.labels(metrics.service).set_function(lambda: len(stream.assigned))
    try:
        await service.start()
        if (publisher := getattr(service, "publisher", None)) is not None:
            publisher.on_acked = metrics.count_produced  # tidings_messages_produced_total
        await stream.run(stop)
    finally:
        await service.close()
        await runner.cleanup()
    log.info("%s stopped cleanly", service.name)


def _request_stop(name: str, sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("%s: %s received, draining and committing", name, sig.name)
    stop.set()
