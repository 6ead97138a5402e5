"""End to end through router + webhook channel + sink as separate processes, with the receiver in
its own process and Postgres as the judge:

1. throughput: N notifications published at once; notifications/s from the first publish until
   every one is recorded as `sent` in Postgres;
2. latency: notifications published one by one at half that rate for a while, over the four
   priorities as the demo mixes them; created-to-delivered latency = arrival at the receiver minus
   the event's created_at (p50, p99, and p99 per priority); then the same with every notification
   NORMAL (`single_lane_*`), which separates the pipeline's own latency from priority scheduling;
3. peak RSS (VmHWM) of each service over both phases;
4. the ceilings: a raw aiohttp blast (bench.webhooks, concurrency 20) at the same receiver process,
   and the webhook provider alone sending N to it, as the worker configures it (`provider_cpu_us`:
   this process's CPU per delivery, beside the worker's `cpu_us_channel_webhook`),
   and the same three stages built from the raw parts only (bench.raw_pipeline: `raw_pipeline_per_s`
   and its `raw_cpu_us_*`), N notifications through each after Tidings' services stopped; and the
   peer a Python team would use, a Celery worker on Redis (bench.celery_peer, `celery_*`);
5. where the CPU goes in 1: CPU microseconds per notification of each process (router, channel
   worker, sink, broker, receiver, and the Postgres server), read from each process's own counters
   (`cpu_us_<process>`, and `cpu_us_total`); the same over the paced mixed phase of 2
   (`paced_cpu_us_<process>`), and the cores the pipeline kept busy there (`paced_pipeline_cores`):
   at half the rate each notification costs more, in smaller batches and requests; with `out`
   (bench.run passes its results directory), another N are drained under py-spy and each
   service's flame graph is saved in <out>/profiles/.

With `neighbour`, a CPU-bound process runs beside the pipeline throughout (the rate it is paced at
is then the one measured with the neighbour running too).

  python -m bench.end_to_end [--events 5000] [--latency-seconds 20] [--profiles DIR] [--neighbour]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg

from bench import celery_peer, raw_pipeline
from bench.machine import CpuMeter, peak_rss_mb
from bench.profiles import Profiles
from bench.receiver import ReceiverProcess
from bench.testbed import Testbed, notification, publish_all, wait_for
from bench.webhooks import raw, tidings
from cli.processes import PIPELINE
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics


def sent_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0]


def throughput(settings: Settings, url: str, count: int, children, first: int = 0) -> float:
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    events = [notification(i, url) for i in range(first, first + count)]
    records = [(names.events(lane(e["priority"])), e["recipient"]["id"], codec.encode(NOTIFICATION, e)) for e in events]
    started = time.monotonic()
    publish_all(settings, records)
    done = wait_for(lambda: sent_count(settings.database_url) >= first + count, "every notification sent",
                    timeout=120 + count / 10, children=children)
    return count / (done - started)


async def paced(settings: Settings, url: str, rate: float, seconds: float, first: int, publisher: Publisher,
                priority: str | None = None) -> dict[str, str]:
    """Publish at `rate`/s for `seconds`, each stamped created_at as it is published; returns
    notification id -> priority lane. `publisher` is the application's long-lived producer, made
    beforehand: a new one's connection would count as latency (up to 1.0 s for the first second)."""
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    started, ids, acks = time.monotonic(), {}, []
    for i in range(max(1, round(rate * seconds))):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        event = notification(first + i, url)
        event["priority"] = priority or event["priority"]
        acks.append(publisher.publish(names.events(lane(event["priority"])), codec.encode(NOTIFICATION, event),
                                      key=event["recipient"]["id"]))
        ids[event["id"]] = lane(event["priority"])
    await asyncio.gather(*acks)
    return ids


def latency_figures(receiver: ReceiverProcess, ids: dict[str, str]) -> dict:
    """p50/p99/max over all paced notifications, and p99 per priority (the four lanes are mixed,
    and a lower lane waits while a higher one has lag)."""
    arrivals = receiver.arrivals()
    by_lane: dict[str, list[float]] = {}
    for nid, priority in ids.items():
        created, arrival = arrivals[nid]
        by_lane.setdefault(priority, []).append(arrival - datetime.fromisoformat(created).timestamp())
    every = sorted(x for xs in by_lane.values() for x in xs)
    figures = {"latency_p50_s": _quantile(every, 50), "latency_p99_s": _quantile(every, 99),
               "latency_max_s": round(every[-1], 3)}
    return figures | {f"{priority}_latency_p99_s": _quantile(sorted(xs), 99) for priority, xs in sorted(by_lane.items())}


def _quantile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100)[percent - 1], 3)


def celery_figures(receiver: ReceiverProcess, count: int) -> dict:
    """The peer's figures (bench.celery_peer), or none where celery is not installed (the `bench`
    extra); `celery_pipeline_cpu_us` is its worker's and Redis's, as `cpu_us_pipeline` is Tidings'
    processes' and Postgres's (neither counts the receiver nor the publishing application)."""
    try:
        figures = celery_peer.peer(receiver, count)
    except ImportError as exc:
        print(f"bench.end_to_end: no Celery peer ({exc}; pip install -e '.[bench]')", file=sys.stderr)
        return {}
    return figures | {"celery_pipeline_cpu_us": round(figures["celery_worker_cpu_us"] + figures["celery_redis_cpu_us"], 1)}


def provider_cpu_us(url: str, count: int) -> float:
    """CPU microseconds per delivery of the webhook provider alone, in this process, configured as
    the pipeline's worker is (no signing secret), sending `count` to the pipeline's receiver."""
    started = time.process_time()
    asyncio.run(tidings(url, count, 20, signed=False))
    return round(1e6 * (time.process_time() - started) / count, 1)


@contextlib.contextmanager
def cpu_neighbour(running: bool):
    """A CPU-bound process beside the pipeline (a busy loop), for the whole measurement."""
    if not running:
        yield
        return
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        neighbour.kill()
        neighbour.wait()


def measure(events: int = 5000, latency_seconds: float = 20.0, out: Path | None = None,
            neighbour: bool = False) -> dict:
    with cpu_neighbour(neighbour), Testbed() as bed, ReceiverProcess() as receiver:
        settings = bed.settings("e2e", database=True)
        children = bed.start_services(settings, PIPELINE)
        services = {"_".join(c.args[4:]): c.pid for c in children}
        meter = CpuMeter(services | {"broker": bed.broker.process.pid, "receiver": receiver.process.pid},
                         settings.database_url)
        application = Publisher.from_settings(settings)  # connected while the throughput phase runs
        meter.start()
        rate = throughput(settings, receiver.url, events, children)
        cpu = {f"cpu_us_{name}": us for name, us in meter.per(events).items()}
        cpu["cpu_us_pipeline"] = round(cpu["cpu_us_total"] - cpu["cpu_us_receiver"], 1)
        total = events
        if out is not None:
            with Profiles(out, "end_to_end", services):
                throughput(settings, receiver.url, events, children, first=total)
            total += events
        meter.start()
        ids = asyncio.run(paced(settings, receiver.url, rate / 2, latency_seconds, first=total, publisher=application))
        total += len(ids)
        wait_for(lambda: sent_count(settings.database_url) >= total and receiver.count() >= total,
                 "the paced notifications", timeout=120 + total / 10, children=children)
        paced_cpu = {f"paced_cpu_us_{name}": us for name, us in meter.per(len(ids)).items()
                     if not name.startswith("postgres_")}
        # The cores the pipeline kept busy at half the rate (the receiver and this publisher aside).
        paced_cpu["paced_pipeline_cores"] = round(
            (paced_cpu["paced_cpu_us_total"] - paced_cpu["paced_cpu_us_receiver"]) * rate / 2 / 1e6, 2)
        latency = latency_figures(receiver, ids)
        normal = asyncio.run(paced(settings, receiver.url, rate / 2, latency_seconds, first=total, publisher=application,
                                   priority="NORMAL"))
        total += len(normal)
        wait_for(lambda: sent_count(settings.database_url) >= total and receiver.count() >= total,
                 "the single-lane notifications", timeout=120 + total / 10, children=children)
        single_lane = latency_figures(receiver, normal)
        latency |= {f"single_lane_{k}": v for k, v in single_lane.items() if not k.startswith("normal_")}
        rss = {f"{name}_rss_mb": peak_rss_mb(pid) for name, pid in services.items()}
        rss["broker_rss_mb"] = peak_rss_mb(bed.broker.process.pid)
        application.close()
        bed.stop_services()
        ceiling = asyncio.run(raw(receiver.url, events, 20, body={"notification_id": "ceiling", "created_at": "-"}))
        provider_cpu = provider_cpu_us(receiver.url, events)
        pipeline_ceiling = raw_pipeline.ceiling(bed, bed.settings("raw", database=True), receiver, events)
        celery = celery_figures(receiver, events)
    service_rss = [v for k, v in rss.items() if k != "broker_rss_mb"]
    return {"events": events, "notifications_per_s": round(rate, 1),
            "receiver_ceiling_deliveries_per_s": round(ceiling, 1), "paced_per_s": round(rate / 2, 1),
            "paced_notifications": len(ids), **cpu, **paced_cpu, "provider_cpu_us": provider_cpu, **pipeline_ceiling, **celery, **latency, **rss, "max_service_rss_mb": max(service_rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--profiles", type=Path, metavar="DIR", help="save py-spy flame graphs in DIR/profiles/")
    parser.add_argument("--neighbour", action="store_true", help="a CPU-bound process runs beside the pipeline")
    args = parser.parse_args()
    print(json.dumps(measure(args.events, args.latency_seconds, args.profiles, args.neighbour), indent=2))


if __name__ == "__main__":
    main()
