"""Retry timing and main-lane throughput beside a waiting retry tier, on the embedded broker.

  python -m bench.retries [--retries 3000] [--events 5000]

1. Timing error: every notification fails once (503), goes to the 1s tier, and is delivered on
   attempt 2; error = arrival of attempt 2 at the receiver minus the due time in its retry
   headers. Prints p50/p90/p99/max (never negative: nothing may run early).
2. Main-lane throughput: N notifications end to end (router -> webhook channel -> receiver),
   once as the ceiling and once while a retry message due in 10 minutes holds a retry
   partition paused, both in this run."""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from cli.embedded import EmbeddedBroker
from cli.processes import start_services, stop_processes, wait_until_consuming
from consumer import failure_headers as h
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, NOTIFICATION, lane, utcnow
from consumer.health import start_app
from consumer.publisher import Publisher
from consumer.retry_tiers import all_tier_names
from consumer.settings import Settings
from consumer.topics import Topics, create_topics
from router.fanout import fan_out
from cli.demo import demo_notification

SERVICES = (["run", "router"], ["run", "channel", "webhook"])


class Receiver:
    def __init__(self, fail_first: bool):
        self.fail_first = fail_first
        self.arrivals: dict[tuple[str, int], float] = {}

    async def start(self) -> str:
        async def receive(request: web.Request) -> web.Response:
            body = await request.json()
            self.arrivals[(body["id"], body["attempt"])] = time.time()
            failing = self.fail_first and body["attempt"] == 1
            return web.json_response({}, status=503 if failing else 200)

        app = web.Application()
        app.router.add_post("/hook", receive)
        self.runner, port = await start_app(app, "127.0.0.1", 0)
        return f"http://127.0.0.1:{port}/hook"

    def count(self, attempt: int) -> int:
        return sum(1 for (_, a) in self.arrivals if a == attempt)


async def run_until(receiver: Receiver, attempt: int, expected: int, timeout: float) -> float:
    started = time.monotonic()
    while receiver.count(attempt) < expected and time.monotonic() - started < timeout:
        await asyncio.sleep(0.02)
    if receiver.count(attempt) < expected:
        raise RuntimeError(f"only {receiver.count(attempt)}/{expected} arrived on attempt {attempt}")
    return time.monotonic() - started


def due_times(settings: Settings, topic: str) -> dict[str, float]:
    """delivery id -> due time (epoch s), read from the retry topic's headers."""
    consumer = Consumer({**settings.kafka_common(), "group.id": "bench-reader", "enable.partition.eof": True})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    dues, at_end = {}, set()
    while len(at_end) < len(partitions):
        for m in consumer.consume(1000, 1.0):
            if m.error():
                at_end.add(m.partition())
                continue
            headers = h.read(m)
            dues[headers[h.DELIVERY_ID]] = h.parse_time(headers[h.DUE_AT]).timestamp()
    consumer.close()
    return dues


async def publish(settings: Settings, notifications: list[dict]) -> None:
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    await asyncio.gather(*(publisher.publish(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                                             key=n["recipient"]["id"]) for n in notifications))
    publisher.close()


async def timing(settings: Settings, count: int) -> dict:
    receiver = Receiver(fail_first=True)
    url = await receiver.start()
    await publish(settings, [demo_notification(i, "webhook", url) for i in range(count)])
    try:
        await run_until(receiver, 2, count, timeout=120 + count / 20)
    finally:  # report what arrived even when some retries never did
        dues = due_times(settings, Topics(settings.topic_prefix).retry("webhook", "1s"))
        lost = [d for d in dues if (d, 2) not in receiver.arrivals]
        if lost:
            print(f"{len(lost)} retries never arrived: {lost[:5]}", file=sys.stderr)
    errors = sorted(receiver.arrivals[(d, 2)] - due for d, due in dues.items() if (d, 2) in receiver.arrivals)
    await receiver.runner.cleanup()
    q = statistics.quantiles(errors, n=100)
    return {"retries": len(errors), "early": sum(e < 0 for e in errors), "p50_s": round(q[49], 3),
            "p90_s": round(q[89], 3), "p99_s": round(q[98], 3), "max_s": round(errors[-1], 3)}


async def throughput(settings: Settings, count: int, with_waiting_retry: bool) -> float:
    receiver = Receiver(fail_first=False)
    url = await receiver.start()
    if with_waiting_retry:
        names, codec = Topics(settings.topic_prefix), Codec.from_settings(settings)
        (delivery,) = fan_out(demo_notification(0, "webhook", url))
        now = utcnow()
        headers = h.FailureContext(names.channel("webhook", "low"), 0, 0, now).headers(
            attempt=1, error_class="http_503", error_message="", group="bench",
            more={h.DUE_AT: h.iso(now + timedelta(minutes=10)), h.RETRY_TIER: "2s"})
        publisher = Publisher.from_settings(settings)
        for partition in range(settings.partitions):  # every partition of the tier waits
            publisher.publish_sync(names.retry("webhook", "2s"), codec.encode(CHANNEL_MESSAGE, {**delivery.message, "attempt": 2}),
                                   headers=headers, partition=partition)
        publisher.close()
    notifications = [demo_notification(i, "webhook", url) for i in range(count)]
    started = time.monotonic()
    await publish(settings, notifications)
    await run_until(receiver, 1, count, timeout=300)
    elapsed = time.monotonic() - started
    await receiver.runner.cleanup()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retries", type=int, default=3000)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
    broker = EmbeddedBroker(workdir / "broker.log").start()
    results = {}
    try:
        for name in ("timing", "ceiling", "beside_waiting_retry"):
            settings = Settings(bootstrap_servers=broker.bootstrap, topic_prefix=f"bench-{name}", group_prefix=f"bench-{name}",
                                partitions=4, retry_tiers="1s,2s", webhook_allowed_targets="127.0.0.1")
            create_topics(AdminClient(settings.kafka_common()), Topics(settings.topic_prefix).all(all_tier_names(settings)),
                          settings.partitions)
            children = start_services(settings, workdir, SERVICES)
            try:
                wait_until_consuming(children)
                if name == "timing":
                    results["retry_timing_error"] = asyncio.run(timing(settings, args.retries))
                else:
                    rate = asyncio.run(throughput(settings, args.events, name == "beside_waiting_retry"))
                    results[f"main_lane_per_s_{name}"] = round(rate, 1)
            finally:
                stop_processes(children)
    finally:
        broker.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
