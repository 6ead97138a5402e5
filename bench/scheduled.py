"""How close to send_at a scheduled send arrives, on the embedded broker, with the real router and
webhook worker (and Postgres for the cancellation check and the release claim, when given).

  python -m bench.scheduled [--sends 300] [--tiers 1s,2s] [--ahead 5:20] [--database-url URL]

N notifications, each with a send_at drawn evenly from the --ahead range of seconds from now, are
published at once; error = arrival at the receiver minus send_at. Prints p50/p90/p99/max and how
many arrived early (never allowed). The bound the docs state: under the shortest retry tier (the
last leg waits on it) plus the worker's own backlog."""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from confluent_kafka.admin import AdminClient

from cli.demo import demo_notification
from cli.embedded import EmbeddedBroker
from cli.processes import start_services, stop_processes, wait_until_consuming
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane, utcnow
from consumer.health import start_app
from consumer.publisher import Publisher
from consumer.retry_tiers import all_tier_names
from consumer.settings import Settings
from consumer.topics import Topics, create_topics

SERVICES = (["run", "router"], ["run", "channel", "webhook"])


async def measure(settings: Settings, sends: int, ahead: tuple[float, float]) -> dict:
    arrivals: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        arrivals.setdefault((await request.json())["notification_id"], time.time())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner, port = await start_app(app, "127.0.0.1", 0)
    now, (low, high) = utcnow(), ahead
    notifications = []
    for i in range(sends):
        n = demo_notification(i, "webhook", f"http://127.0.0.1:{port}/hook")
        n["send_at"] = now + timedelta(seconds=low + (high - low) * i / max(1, sends - 1))
        notifications.append(n)
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    await asyncio.gather(*(publisher.publish(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                                             key=n["recipient"]["id"]) for n in notifications))
    publisher.close()
    deadline = time.monotonic() + high + 120
    while len(arrivals) < sends and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await runner.cleanup()
    errors = sorted(arrivals[n["id"]] - n["send_at"].timestamp() for n in notifications if n["id"] in arrivals)
    q = statistics.quantiles(errors, n=100)
    return {"sends": sends, "arrived": len(errors), "early": sum(e < 0 for e in errors), "p50_s": round(q[49], 3),
            "p90_s": round(q[89], 3), "p99_s": round(q[98], 3), "max_s": round(errors[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--tiers", default="1s,2s", help="the retry tiers (the legs' sizes)")
    parser.add_argument("--ahead", default="5:20", help="send_at from A to B seconds ahead, A:B")
    parser.add_argument("--database-url", help="a migrated Postgres: cancellation checks and release claims on")
    args = parser.parse_args()
    low, high = (float(x) for x in args.ahead.split(":"))
    workdir = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
    broker = EmbeddedBroker(workdir / "broker.log").start()
    try:
        settings = Settings(bootstrap_servers=broker.bootstrap, topic_prefix="bench-scheduled",
                            group_prefix="bench-scheduled", partitions=4, retry_tiers=args.tiers,
                            webhook_allowed_targets="127.0.0.1", database_url=args.database_url)
        if args.database_url:
            from tracking.migrate import migrate
            migrate(args.database_url)
        create_topics(AdminClient(settings.kafka_common()), Topics(settings.topic_prefix).all(all_tier_names(settings)),
                      settings.partitions)
        children = start_services(settings, workdir, SERVICES)
        try:
            wait_until_consuming(children)
            result = asyncio.run(measure(settings, args.sends, (low, high)))
        finally:
            stop_processes(children)
    finally:
        broker.stop()
    print(json.dumps({"tiers": args.tiers, "ahead_s": args.ahead, "postgres": bool(args.database_url),
                      "send_at_error": result}, indent=2))


if __name__ == "__main__":
    main()
