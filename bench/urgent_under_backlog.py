"""URGENT latency behind a LOW backlog: router + webhook channel + sink as separate processes on
the embedded broker and Postgres, the receiver in its own process.

1. baseline: nothing else queued; `trials` URGENT notifications published one every `spacing_s`;
   publish-to-delivered latency = arrival at the receiver minus the moment before publishing.
2. under backlog: `backlog` LOW notifications for the webhook channel are published first; once the
   receiver is getting them, the same URGENT trials. Only trials that arrived while LOW ones were
   still to come count (`trials_under_backlog`; `low_after_last_urgent` LOW arrived after the last).
   `router_p50_s` / `router_p99_s`: publish to the router's `queued` record, the router's share.

  python -m bench.urgent_under_backlog [--backlog 100000] [--trials 20]"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import psycopg

from bench.receiver import ReceiverProcess
from bench.testbed import Testbed, notification, publish_all, wait_for
from cli.processes import PIPELINE
from consumer.codec import Codec
from consumer.events import NOTIFICATION
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import Topics


def events(settings: Settings, url: str, first: int, count: int, priority: str) -> list[tuple[str, str, bytes, str]]:
    """(topic, key, value, notification id) of `count` notifications of one priority."""
    codec, topic = Codec.from_settings(settings), Topics(settings.topic_prefix).events(priority.lower())
    out = []
    for i in range(first, first + count):
        event = {**notification(i, url), "priority": priority}
        out.append((topic, event["recipient"]["id"], codec.encode(NOTIFICATION, event), str(event["id"])))
    return out


def urgent_trials(settings: Settings, url: str, trials: int, spacing_s: float, first: int) -> dict[str, float]:
    """Publish the trials one by one, each acknowledged before the next; id -> publish time."""
    publisher, published = Publisher.from_settings(settings), {}
    publisher.flush(5)
    time.sleep(2)  # let the producer connect and get its idempotent producer id first
    for topic, key, value, nid in events(settings, url, first, trials, "URGENT"):
        published[nid] = time.time()
        publisher.publish_sync(topic, value, key=key)
        if publisher.flush(30):
            raise RuntimeError("an URGENT trial was not acknowledged")
        time.sleep(spacing_s)
    publisher.close()
    return published


def quantiles(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return round(latencies[0], 3), round(latencies[0], 3)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return round(cuts[49], 3), round(cuts[98], 3)


def run_phase(bed: Testbed, receiver: ReceiverProcess, name: str, backlog: int, trials: int,
              spacing_s: float) -> dict:
    settings = bed.settings(name, database=True)
    children = bed.start_services(settings, PIPELINE)
    already = receiver.count()
    started, low_ids = time.monotonic(), set()
    if backlog:
        low = events(settings, receiver.url, 1_000_000, backlog, "LOW")
        low_ids = {nid for *_, nid in low}
        publish_all(settings, [(t, k, v) for t, k, v, _ in low])
        wait_for(lambda: receiver.count() >= already + min(1000, backlog // 50), "LOW deliveries to start",
                 timeout=300, children=children)
    published = urgent_trials(settings, receiver.url, trials, spacing_s, 2_000_000 + already)
    wait_for(lambda: receiver.count() >= already + backlog + trials, "every notification delivered",
             timeout=600 + backlog / 50, children=children)
    drained_s = time.monotonic() - started
    wait_for(lambda: len(queued_times(settings, published)) == trials, "the trials' queued events in Postgres",
             timeout=300, children=children)
    queued = queued_times(settings, published)
    bed.stop_services()
    arrivals = receiver.arrivals()
    if low_ids:  # only trials that arrived while LOW ones were still to come count as under backlog
        last_low = max(arrivals[nid][1] for nid in low_ids)
        published = {nid: at for nid, at in published.items() if arrivals[nid][1] < last_low}
        if not published:
            raise RuntimeError("the LOW backlog drained before the first URGENT trial arrived: make it larger")
    last_urgent = max(arrivals[nid][1] for nid in published)
    return {"latencies": sorted(arrivals[nid][1] - at for nid, at in published.items()),
            "routed": sorted(queued[nid] - at for nid, at in published.items()),
            "low_after_last_urgent": sum(1 for nid in low_ids if arrivals[nid][1] > last_urgent),
            "drained_s": drained_s}


def queued_times(settings: Settings, published: dict[str, float]) -> dict[str, float]:
    """When the router recorded each trial `queued` (epoch s): the router's share of the latency."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT notification_id::text, extract(epoch FROM occurred_at) FROM delivery_events"
                            " WHERE status = 'queued' AND notification_id = ANY(%s::uuid[])", [list(published)]).fetchall()
    return {nid: float(at) for nid, at in rows}


def measure(backlog: int = 100_000, trials: int = 20, spacing_s: float = 0.5) -> dict:
    if backlog:  # a small backlog (the harness's quick run) drains in seconds: fit the trials in
        spacing_s = min(spacing_s, backlog / 20_000)
    with Testbed() as bed, ReceiverProcess() as receiver:
        base = run_phase(bed, receiver, "urgent-baseline", 0, trials, spacing_s)
        loaded = run_phase(bed, receiver, "urgent-backlog", backlog, trials, spacing_s)
    print(json.dumps({"baseline_s": base["latencies"], "under_backlog_s": loaded["latencies"],
                      "under_backlog_publish_to_queued_s": loaded["routed"]}), file=sys.stderr)
    (p50, p99), (base_p50, base_p99) = quantiles(loaded["latencies"]), quantiles(base["latencies"])
    router_p50, router_p99 = quantiles(loaded["routed"])
    return {"backlog": backlog, "trials": trials, "trials_under_backlog": len(loaded["latencies"]),
            "p50_s": p50, "p99_s": p99, "max_s": round(loaded["latencies"][-1], 3),
            "baseline_p50_s": base_p50, "baseline_p99_s": base_p99, "router_p50_s": router_p50, "router_p99_s": router_p99,
            "low_after_last_urgent": loaded["low_after_last_urgent"],
            "backlog_drain_per_s": round(backlog / loaded["drained_s"], 1) if backlog else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between URGENT trials")
    args = parser.parse_args()
    print(json.dumps(measure(args.backlog, args.trials, args.spacing), indent=2))


if __name__ == "__main__":
    main()
