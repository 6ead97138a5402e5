"""Router events/s in one process, beside two ceilings measured in the same run: a bare
consume -> produce passthrough of the same bytes (bench/passthrough.py, no decoding), and the
Avro work alone (decode the event, fan out, encode its ChannelMessage and queued DeliveryEvent;
no Kafka; timed three times around the others, the median reported). The router's rate is read
from the timestamps of what it produced.

  python -m bench.router [--events 20000]"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from bench.machine import peak_rss_mb
from bench.testbed import Testbed, counter, notification, publish_all, read_timestamps, span_rate, wait_for
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION, delivery_event, lane
from consumer.settings import Settings
from consumer.topics import Topics
from router.fanout import fan_out

URL = "http://127.0.0.1:9/hook"  # never called: only the router runs


def encoded_events(count: int) -> list[tuple[str, str, bytes]]:
    """(priority lane, key, framed Avro bytes) of `count` demo notifications over the four lanes."""
    codec = Codec.from_settings(Settings())
    events = [notification(i, URL) for i in range(count)]
    return [(lane(e["priority"]), e["recipient"]["id"], codec.encode(NOTIFICATION, e)) for e in events]


def codec_ceiling(events: list[tuple[str, str, bytes]]) -> float:
    """Events/s of the router's Avro work alone, in this process."""
    codec = Codec.from_settings(Settings())
    started = time.perf_counter()
    for _, _, value in events:
        event = codec.decode(NOTIFICATION, value)
        for delivery in fan_out(event):
            codec.encode(CHANNEL_MESSAGE, delivery.message)
            codec.encode(DELIVERY, delivery_event(delivery.message, "queued", attempt=0))
    return len(events) / (time.perf_counter() - started)


def _load(settings: Settings, events) -> None:
    names = Topics(settings.topic_prefix)
    publish_all(settings, [(names.events(priority), key, value) for priority, key, value in events])


def router_rate(bed: Testbed, events) -> tuple[float, float, float]:
    """(events/s, events/s within the lanes, peak RSS in MB) of one router process working through a
    loaded backlog. The backlog is in all four lanes, which the router takes one after another; the
    rate within the lanes leaves out the moments between them (a lane's end is known, the next
    lane resumed, and its first fetch returns: about 0.1-0.2 s each on Tansu)."""
    settings = bed.settings("router")
    _load(settings, events)
    (router,) = bed.start_services(settings, [["run", "router"]])
    # The rate comes from the output's timestamps; each /metrics answer costs the router about 3 ms,
    # 3% of its loop when read ten times a second.
    wait_for(lambda: counter(router, "tidings_messages_completed_total") >= len(events), "the router",
             timeout=120 + len(events) / 50, children=[router], poll_s=0.5)
    rss = peak_rss_mb(router.pid)
    bed.stop_services()
    lanes = [read_timestamps(settings, [topic]) for topic in Topics(settings.topic_prefix).all_channel("webhook")]
    if sum(map(len, lanes)) != len(events):
        raise RuntimeError(f"router: {sum(map(len, lanes))} channel messages, expected {len(events)}")
    in_lanes = sum(len(stamps) - 1 for stamps in lanes) / sum(max(stamps) - min(stamps) for stamps in lanes)
    return span_rate([stamp for stamps in lanes for stamp in stamps]), in_lanes, rss


def passthrough_rate(bed: Testbed, events) -> float:
    settings = bed.settings("passthrough", extra_topics=("passthrough",))
    _load(settings, events)
    out = f"{settings.topic_prefix}.passthrough"
    done = subprocess.run([sys.executable, "-m", "bench.passthrough", settings.bootstrap_servers,
                           f"{settings.group_prefix}.passthrough", out, str(len(events)),
                           *Topics(settings.topic_prefix).all_events()],
                          check=True, timeout=120 + len(events) / 50, capture_output=True, text=True)
    copied = len(read_timestamps(settings, [out]))
    if copied != len(events):
        raise RuntimeError(f"passthrough: {copied} messages on {out}, expected {len(events)}")
    return json.loads(done.stdout)["events_per_s"]


def measure(events: int = 20000) -> dict:
    records = encoded_events(events)
    # This machine's speed drifts by a fifth or more from one second to the next (the same loop
    # timed 0.26-0.37 s), and a single second-long ceiling then moved the ratio by as much: it is
    # timed before, between and after the router and the passthrough, and the median reported.
    ceilings = [codec_ceiling(records)]
    with Testbed() as bed:
        router, in_lanes, rss = router_rate(bed, records)
        ceilings.append(codec_ceiling(records))
        passthrough = passthrough_rate(bed, records)
    ceilings.append(codec_ceiling(records))
    return {"events": events, "router_events_per_s": round(router, 1), "router_in_lane_events_per_s": round(in_lanes, 1),
            "passthrough_events_per_s": round(passthrough, 1),
            "codec_ceiling_events_per_s": round(statistics.median(ceilings), 1),
            "codec_ceiling_min_events_per_s": round(min(ceilings), 1),
            "codec_ceiling_max_events_per_s": round(max(ceilings), 1), "router_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    print(json.dumps(measure(parser.parse_args().events), indent=2))


if __name__ == "__main__":
    main()
