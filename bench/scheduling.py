"""A scheduled campaign coming due at once, measured from outside: the router and the webhook worker
as processes on the embedded broker and Postgres (release claims and cancellation checks on), the
receiver in its own process, on the product's default retry tiers (the legs a held delivery rides).

1. undeferred (the ceiling): N notifications published with no worker running, routed onto the
   channel's lanes; then a worker starts and drains them: deliveries/s between the first and the
   last arrival at the receiver;
2. deferred: the same N with one send_at for all, far enough ahead that publishing and routing
   them (timed in 1) and starting a worker end before it; the router puts them on their first leg,
   the worker rides the legs left, they come due together and it drains them: deliveries/s between
   the first and the last arrival. Both drains start from a fresh worker and have the machine to
   themselves. Due-time error = arrival minus send_at (p50/p99/max; `early` must be 0), so its p99
   is mostly the queue: N at the drain rate. `ready_ahead_of_due_s` below 0 means the router or the
   worker's start was still under way when they came due (a loaded machine), and the drain rate is
   then partly theirs.

  python -m bench.scheduling [--deliveries 100000] [--tiers 10s,1m,10m,1h]"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from datetime import datetime, timezone

import psycopg

from bench.receiver import ReceiverProcess
from bench.testbed import Testbed, counter, notification, publish_all, span_rate, wait_for
from cli.processes import stop_processes
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.settings import Settings
from consumer.topics import Topics

ROUTER, WORKER = ["run", "router"], ["run", "channel", "webhook"]
DEFAULT_TIERS = Settings.model_fields["retry_tiers"].default
ROUTED = "tidings_messages_completed_total"  # the router's: an event whose outputs are all acknowledged
DEFERRED_FIRST = 10_000_000  # the deferred notifications' indexes (recipients) after the undeferred ones'


def records(settings: Settings, url: str, first: int, count: int, send_at: datetime | None = None
            ) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """(topic, key, value) of `count` webhook notifications, and their ids."""
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    out, ids = [], []
    for i in range(first, first + count):
        event = notification(i, url)
        if send_at is not None:
            event["send_at"] = send_at
        out.append((names.events(lane(event["priority"])), event["recipient"]["id"], codec.encode(NOTIFICATION, event)))
        ids.append(str(event["id"]))
    return out, ids


def held_waits(worker) -> float:
    """Legs the worker re-published (held messages not yet due), from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("tidings_held_messages_total{") and 'outcome="wait"' in line)


def claims(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM held_releases").fetchone()[0]


def quantile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1], 3)


def measure(deliveries: int = 100_000, tiers: str = DEFAULT_TIERS, margin_s: float = 15.0,
            routing_headroom: float = 1.5) -> dict:
    with Testbed() as bed, ReceiverProcess() as receiver:
        settings = bed.settings("scheduling", database=True, retry_tiers=tiers)
        [router] = bed.start_services(settings, [ROUTER])
        timeout = 120 + deliveries / 100

        # 1. undeferred: routed with no worker, then drained by one just started
        started = time.monotonic()
        undeferred, undeferred_ids = records(settings, receiver.url, 0, deliveries)
        publish_all(settings, undeferred)
        wait_for(lambda: counter(router, ROUTED) >= deliveries, "the undeferred notifications routed",
                 timeout=timeout, children=[router])
        setup_s = time.monotonic() - started
        [worker] = bed.start_services(settings, [WORKER])
        wait_for(lambda: receiver.count() >= deliveries, "the undeferred deliveries", timeout=timeout,
                 children=[router, worker])
        stop_processes([worker])
        arrivals = receiver.arrivals()
        undeferred_rate = span_rate([arrivals[nid][1] for nid in undeferred_ids])

        # 2. deferred: one send_at for all, after publishing and routing them onto their first legs with
        # no worker (as in 1), and starting one (it rides the legs left, then drains them once due)
        due = time.time() + setup_s * routing_headroom + margin_s
        send_at = datetime.fromtimestamp(due, timezone.utc)
        deferred, deferred_ids = records(settings, receiver.url, DEFERRED_FIRST, deliveries, send_at)
        publish_all(settings, deferred)
        wait_for(lambda: counter(router, ROUTED) >= 2 * deliveries, "the deferred notifications routed",
                 timeout=timeout, children=[router])
        [worker] = bed.start_services(settings, [WORKER])
        ready_ahead_s = due - time.time()
        if ready_ahead_s < 0:
            print(f"bench.scheduling: routing and the worker's start ended {-ready_ahead_s:.1f}s after send_at: the "
                  "drain rate is partly theirs (a loaded machine? raise routing_headroom or margin_s)", file=sys.stderr)
        wait_for(lambda: receiver.count() >= 2 * deliveries, "the deferred deliveries",
                 timeout=max(0.0, due - time.time()) + timeout, children=[router, worker])
        legs = held_waits(worker)
        arrivals = receiver.arrivals()
        claimed = claims(settings.database_url)
        bed.stop_services()
    landed = sorted(arrivals[nid][1] for nid in deferred_ids if nid in arrivals)
    errors = [at - due for at in landed]
    return {"deliveries": deliveries, "tiers": tiers,
            "deferred_deliveries_per_s": round(span_rate(landed), 1),
            "undeferred_deliveries_per_s": round(undeferred_rate, 1),
            "due_error_p50_s": quantile(errors, 50), "due_error_p99_s": quantile(errors, 99),
            "due_error_max_s": round(errors[-1], 3), "first_after_due_s": round(errors[0], 3),
            "drain_s": round(landed[-1] - landed[0], 3), "publish_and_route_s": round(setup_s, 3),
            "ready_ahead_of_due_s": round(ready_ahead_s, 3),
            "deferred_arrived": len(landed), "early": sum(e < 0 for e in errors), "claimed": claimed,
            "legs_per_delivery": round(legs / deliveries, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--tiers", default=DEFAULT_TIERS, help="the retry tiers the held deliveries ride")
    args = parser.parse_args()
    print(json.dumps(measure(args.deliveries, args.tiers), indent=2))


if __name__ == "__main__":
    main()
