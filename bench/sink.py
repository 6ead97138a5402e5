"""Sink rows/s (`tidings run sink` working through a loaded tidings.deliveries topic into Postgres)
beside one INSERT per row (the naive way, each its own transaction) and beside the sink's own
batched write (DeliveryLog.record, no Kafka), all on the same Postgres server in one run.

  python -m bench.sink [--events 20000] [--single-rows 2000]

The baseline writes only the event row into a table with one index (no event-id ledger, no
current-state fold), which flatters it. The sink's rate comes from Postgres: rows recorded between the first and the last batch's
transaction start (recorded_at), so neither the group join nor the poll interval counts."""
from __future__ import annotations

import argparse
import asyncio
import json
import time

import psycopg

from bench.machine import peak_rss_mb
from bench.router import URL
from bench.testbed import Testbed, counter, notification, publish_all, wait_for
from consumer.codec import Codec
from consumer.events import DELIVERY, delivery_event
from consumer.settings import Settings
from consumer.topics import Topics
from router.fanout import fan_out
from tracking.store import EVENT_COLUMNS, DeliveryLog, event_row


def delivery_events(count: int) -> list[dict]:
    """`count` DeliveryEvents: a queued and a sent event per delivery."""
    events = []
    for i in range((count + 1) // 2):
        (delivery,) = fan_out(notification(i, URL))
        events.append(delivery_event(delivery.message, "queued", attempt=0))
        events.append(delivery_event(delivery.message, "sent", provider="http", status_code=200))
    return events[:count]


def batch_rate(database_url: str) -> float:
    """Rows/s from the batches' transaction start times: the rows of every batch but the last,
    over the time from the first batch's start to the last one's."""
    with psycopg.connect(database_url) as conn:
        batches = conn.execute("SELECT extract(epoch FROM recorded_at), count(*) FROM delivery_events "
                               "GROUP BY recorded_at ORDER BY recorded_at").fetchall()
    if len(batches) < 2:
        raise RuntimeError(f"the sink wrote {len(batches)} batch(es); load more events to time it")
    rows = sum(n for _, n in batches[:-1])
    return rows / float(batches[-1][0] - batches[0][0])


def sink_rate(bed: Testbed, events: list[dict]) -> tuple[float, float]:
    """(rows/s, peak RSS in MB) of one sink process."""
    settings = bed.settings("sink", database=True)
    codec = Codec.from_settings(settings)
    topic = Topics(settings.topic_prefix).deliveries
    publish_all(settings, [(topic, e["delivery_id"], codec.encode(DELIVERY, e)) for e in events])
    (sink,) = bed.start_services(settings, [["run", "sink"]])
    wait_for(lambda: counter(sink, "tidings_messages_completed_total") >= len(events), "the sink",
             timeout=120 + len(events) / 20, children=[sink])
    rss = peak_rss_mb(sink.pid)
    bed.stop_services()
    with psycopg.connect(settings.database_url) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM delivery_events").fetchone()
    if stored != len(events):
        raise RuntimeError(f"the sink stored {stored} of {len(events)} events")
    return batch_rate(settings.database_url), rss


def single_insert_rate(database_url: str, events: list[dict]) -> float:
    columns, placeholders = ", ".join(EVENT_COLUMNS), ", ".join(["%s"] * len(EVENT_COLUMNS))
    rows = [event_row(e) for e in events]
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The delivery log's columns in a plain table keyed on event_id: the naive schema, so the
        # baseline does not depend on how the real log is partitioned.
        conn.execute("CREATE TABLE single_row_events (LIKE delivery_events INCLUDING DEFAULTS, PRIMARY KEY (event_id))")
        started = time.perf_counter()
        for row in rows:
            conn.execute(f"INSERT INTO single_row_events ({columns}) VALUES ({placeholders}) "
                         "ON CONFLICT (event_id) DO NOTHING", row)
        return len(rows) / (time.perf_counter() - started)


def as_decoded(events: list[dict]) -> list[dict]:
    """The events as the sink hands them to the store: through the codec (uuid.UUID ids, aware
    datetimes), so the store's rate is for the input the sink really writes."""
    codec = Codec.from_settings(Settings())
    return [codec.decode(DELIVERY, codec.encode(DELIVERY, e)) for e in events]


async def store_rate(database_url: str, events: list[dict], batch: int) -> float:
    async with await DeliveryLog.connect(database_url) as log:
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            await log.record(events[i:i + batch])
        return len(events) / (time.perf_counter() - started)


def measure(events: int = 20000, single_rows: int = 2000) -> dict:
    loaded = delivery_events(events)
    with Testbed() as bed:
        sink, rss = sink_rate(bed, loaded)
        single = single_insert_rate(bed.database(), loaded[:single_rows])
        store = asyncio.run(store_rate(bed.database(), as_decoded(loaded), Settings().sink_batch_size))
    return {"events": events, "single_insert_rows": single_rows, "sink_rows_per_s": round(sink, 1),
            "store_batch_rows_per_s": round(store, 1), "single_insert_rows_per_s": round(single, 1),
            "sink_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--single-rows", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(measure(args.events, args.single_rows), indent=2))


if __name__ == "__main__":
    main()
