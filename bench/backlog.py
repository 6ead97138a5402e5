"""A large backlog drained by the whole pipeline, measured from outside: N webhook notifications are
published with no service running; then the router, the webhook worker and the sink start (separate
processes, as `tidings run` starts them) and drain it to the receiver, and the sink records every
one. Once a second the bench reads the receiver's count and each service's resident memory (VmRSS).

Figures: the drain rate over the first tenth and over the last tenth of the deliveries (a flat
pipeline keeps the last at least 0.8 of the first), the whole drain, how long the sink took to record
the last one after it was delivered, and the peak RSS (VmHWM) of each service.

  python -m bench.backlog [--notifications 1000000]"""
from __future__ import annotations

import argparse
import bisect
import json
import time

from bench.end_to_end import sent_count
from bench.machine import peak_rss_mb, rss_mb
from bench.receiver import ReceiverProcess
from bench.testbed import Testbed, notification, publish_all, wait_for
from cli.processes import PIPELINE
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.settings import Settings
from consumer.topics import Topics

CHUNK = 50_000  # notifications encoded and published at a time: the bench's own memory stays small


def publish_backlog(settings: Settings, url: str, count: int) -> None:
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    for first in range(0, count, CHUNK):
        events = (notification(i, url) for i in range(first, min(count, first + CHUNK)))
        publish_all(settings, [(names.events(lane(e["priority"])), e["recipient"]["id"], codec.encode(NOTIFICATION, e))
                               for e in events])


def tenth_rate(series: list[tuple[float, int]], start: float, end: float) -> float:
    """Deliveries/s between the moments the count first reached `start` and `end` deliveries."""
    counts = [count for _, count in series]
    at = [series[min(bisect.bisect_left(counts, mark), len(series) - 1)][0] for mark in (start, end)]
    return (end - start) / max(at[1] - at[0], 1e-9)


def measure(notifications: int = 1_000_000) -> dict:
    with Testbed() as bed, ReceiverProcess() as receiver:
        settings = bed.settings("backlog", database=True)
        started = time.monotonic()
        publish_backlog(settings, receiver.url, notifications)
        publish_s = time.monotonic() - started
        children = bed.start_services(settings, PIPELINE)
        services = {"_".join(c.args[4:]): c.pid for c in children}
        series, rss = [(time.monotonic(), 0)], {name: [] for name in services}
        deadline = time.monotonic() + 600 + notifications / 100
        while series[-1][1] < notifications:
            if any(c.poll() is not None for c in children) or time.monotonic() > deadline:
                raise RuntimeError(f"the drain stopped at {series[-1][1]} of {notifications}")
            time.sleep(1.0)
            series.append((time.monotonic(), receiver.count()))
            for name, pid in services.items():
                rss[name].append(rss_mb(pid))
        delivered = series[-1][0]
        recorded = wait_for(lambda: sent_count(settings.database_url) >= notifications, "the sink to record every one",
                            timeout=600, children=children)
        peaks = {f"{name}_rss_mb": peak_rss_mb(pid) for name, pid in services.items()}
        bed.stop_services()
    tenth = notifications / 10
    # From the first delivery: the services' start is not the drain.
    first, last = tenth_rate(series, 1, tenth), tenth_rate(series, notifications - tenth, notifications)
    # RSS at the end of the first tenth and at the end: flat memory keeps them close.
    first_tenth_at = next(i for i, (_, count) in enumerate(series) if count >= tenth)
    growth = {f"{name}_rss_growth_mb": round(values[-1] - values[max(0, first_tenth_at - 1)], 1)
              for name, values in rss.items() if values}
    return {"notifications": notifications, "publish_s": round(publish_s, 1),
            "first_tenth_per_s": round(first, 1), "last_tenth_per_s": round(last, 1),
            "drain_per_s": round(notifications / (delivered - series[0][0]), 1),
            "recorded_after_delivered_s": round(recorded - delivered, 1),
            **peaks, "max_service_rss_mb": max(peaks.values()), **growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=1_000_000)
    args = parser.parse_args()
    print(json.dumps(measure(args.notifications), indent=2))


if __name__ == "__main__":
    main()
