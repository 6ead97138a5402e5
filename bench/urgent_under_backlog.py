"""URGENT latency behind a LOW backlog: router + webhook channel + sink as separate processes on
the embedded broker and Postgres, the receiver in its own process.

1. baseline: nothing else queued; `trials` URGENT notifications published one every `spacing_s`;
   publish-to-delivered latency = arrival at the receiver minus the moment before publishing.
2. under backlog: `backlog` LOW notifications for the webhook channel are published first; once the
   receiver is getting them, the same URGENT trials. Every URGENT must arrive while LOW ones are
   still to come (`low_after_last_urgent` > 0), or the backlog was too small to measure anything.

  python -m bench.urgent_under_backlog [--backlog 100000] [--trials 20]"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

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
        wait_for(lambda: receiver.count() >= already + min(1000, backlog // 10), "LOW deliveries to start",
                 timeout=300, children=children)
    published = urgent_trials(settings, receiver.url, trials, spacing_s, 2_000_000 + already)
    wait_for(lambda: receiver.count() >= already + backlog + trials, "every notification delivered",
             timeout=600 + backlog / 50, children=children)
    drained_s = time.monotonic() - started
    bed.stop_services()
    arrivals = receiver.arrivals()
    latencies = sorted(arrivals[nid][1] - at for nid, at in published.items())
    last_urgent = max(arrivals[nid][1] for nid in published)
    low_after = sum(1 for nid in low_ids if arrivals[nid][1] > last_urgent)
    return {"latencies": latencies, "low_after_last_urgent": low_after, "drained_s": drained_s}


def measure(backlog: int = 100_000, trials: int = 20, spacing_s: float = 1.0) -> dict:
    with Testbed() as bed, ReceiverProcess() as receiver:
        base = run_phase(bed, receiver, "urgent-baseline", 0, trials, spacing_s)
        loaded = run_phase(bed, receiver, "urgent-backlog", backlog, trials, spacing_s)
    p50, p99 = quantiles(loaded["latencies"])
    base_p50, base_p99 = quantiles(base["latencies"])
    if backlog and loaded["low_after_last_urgent"] == 0:
        raise RuntimeError("the LOW backlog drained before the last URGENT trial: nothing was measured under backlog")
    print(json.dumps({"baseline_s": base["latencies"], "under_backlog_s": loaded["latencies"]}), file=sys.stderr)
    return {"backlog": backlog, "trials": trials, "p50_s": p50, "p99_s": p99, "max_s": round(loaded["latencies"][-1], 3),
            "baseline_p50_s": base_p50, "baseline_p99_s": base_p99,
            "low_after_last_urgent": loaded["low_after_last_urgent"],
            "backlog_drain_per_s": round(backlog / loaded["drained_s"], 1) if backlog else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between URGENT trials")
    args = parser.parse_args()
    print(json.dumps(measure(args.backlog, args.trials, args.spacing), indent=2))


if __name__ == "__main__":
    main()
