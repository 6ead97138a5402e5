"""Sink rows/s (`tidings run sink` working through a loaded tidings.deliveries topic into Postgres)
beside one INSERT per row (the naive way, each its own transaction) and beside the sink's own
batched write (DeliveryLog.record, no Kafka), all on the same Postgres server in one run.

  python -m bench.sink [--events 20000] [--single-rows 2000]

The baseline writes only the event row into a table with one index (no event-id ledger, no
current-state fold), which flatters it. The sink's rate comes from Postgres: rows recorded between the first and the last batch's
transaction start (recorded_at), so neither the group join nor the poll interval counts. CPU per
event: the sink process's and its Postgres backend's, from when it has joined its group."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time

import psycopg

from bench.machine import CpuMeter, peak_rss_mb
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


def batch_rate(database_url: str, since: dt.datetime | None = None) -> float:
    """Rows/s from the batches' transaction start times: the rows of every batch but the last,
    over the time from the first batch's start to the last one's. With `since`, only the rows that
    occurred and were recorded from then on (a log that held rows before the run)."""
    with psycopg.connect(database_url) as conn:
        batches = conn.execute("SELECT extract(epoch FROM recorded_at), count(*) FROM delivery_events "
                               f"{_SINCE if since else ''} GROUP BY recorded_at ORDER BY recorded_at",
                               {"since": since}).fetchall()
    if len(batches) < 2:
        raise RuntimeError(f"the sink wrote {len(batches)} batch(es); load more events to time it")
    rows = sum(n for _, n in batches[:-1])
    return rows / float(batches[-1][0] - batches[0][0])


# occurred_at first: the day partitions before `since` are skipped.
_SINCE = "WHERE occurred_at >= %(since)s AND recorded_at >= %(since)s"


def sink_rate(bed: Testbed, events: list[dict], database_url: str | None = None, **extra_env: str) -> dict:
    """One sink process through the events, into a fresh database or into `database_url`: rows/s,
    peak RSS in MB, and CPU microseconds per event of the process and of its Postgres backend.
    `extra_env` goes to the process (PGOPTIONS: settings of its Postgres session)."""
    settings = bed.settings("sink", database=database_url is None)
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    codec = Codec.from_settings(settings)
    topic = Topics(settings.topic_prefix).deliveries
    publish_all(settings, [(topic, e["delivery_id"], codec.encode(DELIVERY, e)) for e in events])
    with psycopg.connect(settings.database_url) as conn:  # the server's clock, as recorded_at is
        since = min(conn.execute("SELECT now()").fetchone()[0], min(e["occurred_at"] for e in events))
    since = since.replace(microsecond=0)  # events carry milliseconds (Avro timestamp-millis)
    reads = blocks_read(settings.database_url)
    (sink,) = bed.start_services(settings, [["run", "sink"]], **extra_env)
    meter = CpuMeter({"sink": sink.pid}, settings.database_url)
    meter.start()
    wait_for(lambda: counter(sink, "tidings_messages_completed_total") >= len(events), "the sink",
             timeout=120 + len(events) / 20, children=[sink])
    cpu = meter.per(len(events))
    rss = peak_rss_mb(sink.pid)
    bed.stop_services()
    with psycopg.connect(settings.database_url) as conn:
        (stored,) = conn.execute(f"SELECT count(*) FROM delivery_events {_SINCE}", {"since": since}).fetchone()
    if stored != len(events):
        raise RuntimeError(f"the sink stored {stored} of {len(events)} events")
    return {"rows_per_s": batch_rate(settings.database_url, since), "rss_mb": rss,
            "cpu_us_per_event": cpu["sink"], "postgres_cpu_us_per_event": cpu.get("postgres_sink"),
            "blocks_read_per_event": (blocks_read(settings.database_url) - reads) / len(events)}


def blocks_read(database_url: str) -> int:
    """Pages the database's backends have read so far that were not in shared buffers (each one
    a read from the OS, and often a dirty page written out to make room)."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT blks_read FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


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
        sink = sink_rate(bed, loaded)
        single = single_insert_rate(bed.database(), loaded[:single_rows])
        store = asyncio.run(store_rate(bed.database(), as_decoded(loaded), Settings().sink_batch_size))
    return {"events": events, "single_insert_rows": single_rows, "sink_rows_per_s": round(sink["rows_per_s"], 1),
            "store_batch_rows_per_s": round(store, 1), "single_insert_rows_per_s": round(single, 1),
            "sink_rss_mb": sink["rss_mb"], "sink_cpu_us_per_event": sink["cpu_us_per_event"],
            "sink_postgres_cpu_us_per_event": sink["postgres_cpu_us_per_event"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--single-rows", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(measure(args.events, args.single_rows), indent=2))


if __name__ == "__main__":
    main()
