"""Runs one service process: logging, the /metrics + /healthz server, SIGTERM/SIGINT handling,
the stream consumer, and a clean shutdown (drain, commit, close) with exit code 0."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import signal
import sys
from typing import Protocol, Sequence

from confluent_kafka import Message

from consumer import health
from consumer.isolation import describe
from consumer.metrics import ServiceMetrics
from consumer.outages import Backoff, dependency_of
from consumer.settings import Settings
from consumer.stream import IDLE_FETCH_WAIT_S, BUSY_FETCH_WAIT_S, StreamConsumer

log = logging.getLogger(__name__)


class Service(Protocol):
    """What a service gives the runtime: where it reads and what it does with a batch."""

    name: str
    group_id: str
    topics: Sequence[str]

    async def start(self) -> None: ...
    async def handle(self, messages: list[Message]) -> list[tuple[Message, BaseException]] | None: ...
    async def close(self) -> None: ...

    # Optional: `timed_topics` (retry tiers: the only topics whose tidings-due-at is honoured),
    # `quarantine(raw, exc)` (dead-letter a message whose handling kept raising), `dead_letters`,
    # `publisher`, `batch_size`, `max_in_flight`, `bind(stream)`.


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
                            max_in_flight=getattr(service, "max_in_flight", None),
                            timed_topics=getattr(service, "timed_topics", ()),
                            idle_wait_s=getattr(service, "idle_wait_s", IDLE_FETCH_WAIT_S),
                            busy_wait_s=getattr(service, "busy_wait_s", BUSY_FETCH_WAIT_S),
                            quarantine=lambda raw, exc: quarantine(service, raw, exc))
    if hasattr(service, "bind"):
        service.bind(stream)  # services that defer or hold messages (retries, the dead-letter limit)
    runner, port = await health.serve(metrics, stream.health, settings.metrics_host, settings.metrics_port)
    log.info("%s: /metrics and /healthz on port %d; consuming %s as group %s",
             service.name, port, ", ".join(service.topics), service.group_id)
    metrics.assigned_partitions.labels(metrics.service).set_function(lambda: len(stream.assigned))
    metrics.follow_health(stream.health)  # tidings_healthy says what /healthz says
    # Series known at start exist at 0 (internal_error: the runtime's quarantine, for every service);
    # the services add what they know in start().
    metrics.start_series(topics=service.topics, dead_letter_reasons=("internal_error",))
    try:
        if not await _start(service, stream, stop):
            return
        settle_heap()
        if (publisher := getattr(service, "publisher", None)) is not None:
            publisher.on_acked = metrics.count_produced  # tidings_messages_produced_total
        await stream.run(stop)
    finally:
        await service.close()
        await runner.cleanup()
    log.info("%s stopped cleanly", service.name)


# Young collections every this many net allocations (CPython's default, 700, runs one every few
# deliveries, each walking the in-flight messages' tasks and records again; they hold no cycles).
YOUNG_COLLECTION_EVERY = 20_000


def settle_heap() -> None:
    """After start: what start-up built (modules, schemas, settings, pools) lives as long as the
    process, so the collector never walks it again (a full collection walked it at every few
    thousand deliveries), and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


async def _start(service: Service, stream: StreamConsumer, stop: asyncio.Event) -> bool:
    """Start the service, waiting out an outage of its dependencies (Postgres not up yet): /healthz
    says 503 and why meanwhile. False when stopped before it could start; a configuration error raises."""
    backoff = Backoff(1.0, 30.0)
    for attempt in itertools.count(1):
        try:
            await service.start()
            stream.isolation.outages.clear()
            return True
        except Exception as exc:
            dependency = dependency_of(exc)
            if dependency is None:
                raise
            stream.isolation.outages[dependency] = describe(exc)
            log.error("%s cannot start: %s is unavailable (%s); trying again in %.0fs", service.name, dependency,
                      describe(exc), backoff.delay(attempt))
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(backoff.delay(attempt)):
                    await stop.wait()
            if stop.is_set():
                return False
    return False


async def quarantine(service: Service, raw: Message, exc: BaseException) -> None:
    """Dead-letter a message whose handling kept raising: the service's own way when it has one
    (recording the delivery's `dead_lettered` too), else the bare message with the error."""
    own = getattr(service, "quarantine", None)
    if own is not None:
        try:
            await own(raw, exc)
            return
        except Exception as failure:
            if dependency_of(failure) is not None:
                raise
            log.exception("%s: its own dead-lettering failed; dead-lettering the bare message", service.name)
    await service.dead_letters.send(raw, reason="internal_error", error_class=type(exc).__name__,
                                    error_message=describe(exc))


def _request_stop(name: str, sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("%s: %s received, draining and committing", name, sig.name)
    stop.set()
