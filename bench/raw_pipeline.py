"""The end-to-end pipeline's own ceiling: the router -> webhook worker -> sink topology built from
the raw parts only, each stage its own process on the same broker, receiver and Postgres server:

1. router: consume the event topics, decode the NotificationEvent, encode its webhook
   ChannelMessage and a `queued` DeliveryEvent (as the real router does), produce both;
2. worker: consume the channel topics, one aiohttp POST of the webhook body per message
   (`concurrency` in flight, the webhook channel's per-endpoint default), produce a `sent` event;
3. sink: consume the delivery events, COPY each batch into one plain table, commit.

Tidings' durability rules stay: acks=all, idempotent producers, offsets stored (and auto-committed)
only once a message's outputs are acknowledged or committed, and a fetch that skipped offsets is
fetched again from the first missing one (the embedded broker skipped 15 delivery events of 40,000
in one run: the sink then waited for them for ever). Nothing else of Tidings (no validation,
preferences, rate limits, retries, dead letters, metrics). notifications/s is timed from the first
publish until the sink has committed every `sent` row; CPU is microseconds per notification of each
process over the same span (bench.machine.CpuMeter, as bench.end_to_end counts Tidings): the three
stages, the broker, the receiver and the Postgres server; and their total.

  python -m bench.raw_pipeline [--events 20000] [--concurrency 20]
  python -m bench.raw_pipeline stage router|worker|sink CONFIG_JSON_FILE   (started by the bench)"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import traceback
from collections import deque
from pathlib import Path

import aiohttp
import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.machine import CpuMeter
from bench.receiver import ReceiverProcess
from bench.testbed import Testbed, notification, publish_all, wait_for
from channels.webhook.request import payload
from cli.processes import stop_processes
from consumer.codec import Codec, LocalSchemas
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION, delivery_event, delivery_id, lane
from consumer.fetch_positions import FetchPositions, Gap
from consumer.publisher import GATHERED_LINGER_MS, PROMPT_LINGER_MS
from consumer.settings import Settings
from consumer.stream import FETCH_WAIT_MS
from consumer.topics import Topics

CHANNEL = "webhook"
TABLE = "raw_delivery_events"
COLUMNS = ("event_id", "delivery_id", "notification_id", "status", "occurred_at")
JSON_HEADERS = {"Content-Type": "application/json"}
_COMPACT = json.JSONEncoder(separators=(",", ":"))


# ---- the stages (child processes) ----

def consumer_for(config: dict, topics: list[str]) -> Consumer:
    """The runtime's consumer settings (consumer/stream.py): offsets stored by hand, auto-committed."""
    consumer = Consumer({**config["kafka"], "group.id": config["group"], "enable.auto.commit": True,
                         "auto.commit.interval.ms": config["commit_interval_ms"], "enable.auto.offset.store": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 1200,
                         "fetch.wait.max.ms": FETCH_WAIT_MS})
    consumer.subscribe(topics)
    while not consumer.assignment():
        if consumer.consume(1, 0.1):  # nothing is published before every stage is ready
            raise RuntimeError("a message arrived before the stage reported ready")
    return consumer


def producer_for(config: dict, linger_ms: int = PROMPT_LINGER_MS) -> Producer:
    """The runtime's producer settings (consumer/publisher.py), with the same linger as the stage
    it stands in for."""
    return Producer({**config["kafka"], "enable.idempotence": True, "acks": "all", "linger.ms": linger_ms,
                     "message.timeout.ms": 60000})


def ready(config: dict) -> None:
    path = Path(config["ready"])
    path.with_suffix(".tmp").write_text("{}")
    path.with_suffix(".tmp").rename(path)


class Arrivals:
    """The fetched messages a stage may take, in offset order per partition (the runtime's check,
    consumer/fetch_positions.py): a partition that skipped ahead is fetched again from the gap."""

    def __init__(self, consumer: Consumer):
        self.consumer = consumer
        self.positions = FetchPositions()

    def __call__(self, messages: list) -> list:
        taken, gapped = [], set()
        for message in messages:
            if message.error():
                raise RuntimeError(f"consume: {message.error()}")
            key = (message.topic(), message.partition())
            if key in gapped:
                continue
            seen = self.positions.check(key, message.offset())
            if isinstance(seen, Gap):
                gapped.add(key)
                self.consumer.seek(TopicPartition(key[0], key[1], seen.expected))
            elif seen:
                taken.append(message)
        return taken


def produce(producer: Producer, topic: str, value: bytes, key: str, on_delivery) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.01)


def store_after(consumer: Consumer, messages: list) -> None:
    """Store the offset after the last of the messages on each partition."""
    last = {(m.topic(), m.partition()): m.offset() for m in messages}
    consumer.store_offsets(offsets=[TopicPartition(t, p, offset + 1) for (t, p), offset in last.items()])


class Acknowledged:
    """Offsets stored in consume order once every output of a batch is acknowledged, so the stage
    never waits for one batch's acknowledgements before working on the next."""

    def __init__(self, consumer: Consumer):
        self.consumer = consumer
        self.batches: deque[list] = deque()  # [messages, outputs not yet acknowledged]

    def open(self, messages: list, outputs: int) -> list:
        batch = [messages, outputs]
        self.batches.append(batch)
        return batch

    def callback(self, batch: list):
        def acknowledged(error, _message) -> None:
            if error is not None:
                raise RuntimeError(f"produce: {error}")
            batch[1] -= 1
        return acknowledged

    def store(self) -> None:
        while self.batches and self.batches[0][1] == 0:
            store_after(self.consumer, self.batches.popleft()[0])


def channel_message(event: dict) -> dict:
    """The webhook ChannelMessage the router publishes for the event (router/fanout.py without the
    registry); the schema's defaults fill the rest."""
    content = event["content"].get(CHANNEL) or {}
    return {"delivery_id": delivery_id(event["id"], CHANNEL, event["created_at"]), "notification_id": str(event["id"]),
            "channel": CHANNEL, "priority": event["priority"], "created_at": event["created_at"],
            "source": event["source"], "tenant": event["tenant"], "category": event["category"],
            "recipient_id": event["recipient"]["id"], "address": event["recipient"]["addresses"][CHANNEL],
            "subject": content.get("subject"), "text": content.get("text"), "html": content.get("html"),
            "data": event["data"], "expires_at": event["expires_at"], "options": content.get("options") or "{}"}


def route(config: dict) -> None:
    codec, names = Codec(LocalSchemas()), Topics(config["prefix"])
    consumer, producer = consumer_for(config, names.all_events()), producer_for(config)
    acked, arrived = Acknowledged(consumer), Arrivals(consumer)
    ready(config)
    while True:
        messages = arrived(consumer.consume(500, 0.1))
        if messages:
            batch = acked.open(messages, 2 * len(messages))
            for raw in messages:
                message = channel_message(codec.decode(NOTIFICATION, raw.value()))
                produce(producer, names.channel(CHANNEL, lane(message["priority"])),
                        codec.encode(CHANNEL_MESSAGE, message), message["recipient_id"], acked.callback(batch))
                queued = delivery_event(message, "queued", attempt=0)
                produce(producer, names.deliveries, codec.encode(DELIVERY, queued), queued["delivery_id"],
                        acked.callback(batch))
        producer.poll(0)
        acked.store()


async def deliver_all(config: dict) -> None:
    codec, names = Codec(LocalSchemas()), Topics(config["prefix"])
    consumer, producer = consumer_for(config, names.all_channel(CHANNEL)), producer_for(config, GATHERED_LINGER_MS)
    acked, slots, running = Acknowledged(consumer), asyncio.Semaphore(config["concurrency"]), set()
    arrived = Arrivals(consumer)

    async def deliver(http: aiohttp.ClientSession, raw, batch: list) -> None:
        try:
            message = codec.decode(CHANNEL_MESSAGE, raw.value())
            started = time.monotonic()
            async with http.post(message["address"], data=_COMPACT.encode(payload(message)).encode(),
                                 headers=JSON_HEADERS) as answer:
                await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"the receiver answered {answer.status}")
            sent = delivery_event(message, "sent", provider="http", status_code=answer.status,
                                  latency_ms=round((time.monotonic() - started) * 1000))
            produce(producer, names.deliveries, codec.encode(DELIVERY, sent), sent["delivery_id"], acked.callback(batch))
        except BaseException:
            traceback.print_exc()
            os._exit(1)  # a ceiling run has no failures to handle: stop, and the bench reports the exit
        finally:
            slots.release()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=config["concurrency"])) as http:
        ready(config)
        while True:
            messages = arrived(await asyncio.to_thread(consumer.consume, 500, 0.1))
            if messages:
                batch = acked.open(messages, len(messages))
                for raw in messages:
                    await slots.acquire()
                    task = asyncio.create_task(deliver(http, raw, batch))
                    running.add(task)
                    task.add_done_callback(running.discard)
            producer.poll(0)
            acked.store()


def sink(config: dict) -> None:
    codec, names = Codec(LocalSchemas()), Topics(config["prefix"])
    consumer = consumer_for(config, [names.deliveries])
    arrived = Arrivals(consumer)
    with psycopg.connect(config["database_url"]) as conn:
        ready(config)
        while True:
            messages = arrived(consumer.consume(config["batch_size"], 0.1))
            if not messages:
                continue
            with conn.cursor() as cursor, cursor.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for raw in messages:
                    event = codec.decode(DELIVERY, raw.value())
                    copy.write_row([event[column] for column in COLUMNS])
            conn.commit()
            store_after(consumer, messages)


STAGES = {"router": route, "worker": lambda config: asyncio.run(deliver_all(config)), "sink": sink}


# ---- the bench (parent process) ----

def notification_records(settings: Settings, url: str, count: int) -> list[tuple[str, str, bytes]]:
    """What bench.end_to_end publishes: the bench notification on its priority's event topic."""
    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    events = [notification(i, url) for i in range(count)]
    return [(names.events(lane(e["priority"])), e["recipient"]["id"], codec.encode(NOTIFICATION, e)) for e in events]


def stage_file(bed: Testbed, settings: Settings, name: str, suffix: str) -> Path:
    return bed.workdir / f"{settings.topic_prefix}-raw-{name}.{suffix}"


def start_stage(bed: Testbed, settings: Settings, name: str, **extra) -> subprocess.Popen:
    config = {"kafka": settings.kafka_common(), "prefix": settings.topic_prefix,
              "group": f"{settings.group_prefix}.raw-{name}", "commit_interval_ms": settings.commit_interval_ms,
              "ready": str(stage_file(bed, settings, name, "ready")), **extra}
    path = stage_file(bed, settings, name, "json")
    path.write_text(json.dumps(config))
    log = open(stage_file(bed, settings, name, "log"), "wb")
    root = str(Path(__file__).resolve().parents[1])  # the stages import this checkout, wherever the bench runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "PGAPPNAME": f"raw-{name}"}  # its Postgres backend's CPU is counted as this stage's
    return subprocess.Popen([sys.executable, "-m", "bench.raw_pipeline", "stage", name, str(path)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def ceiling(bed: Testbed, settings: Settings, receiver: ReceiverProcess, count: int, concurrency: int = 20) -> dict:
    """The raw pipeline's notifications/s and CPU per notification. `settings` must be this run's
    own (bed.settings(..., database=True)): its topics, groups and database are not shared."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {TABLE} (event_id uuid, delivery_id uuid, notification_id uuid, "
                     "status text, occurred_at timestamptz)")
    records = notification_records(settings, receiver.url, count)
    stages = {"router": start_stage(bed, settings, "router"),
              "worker": start_stage(bed, settings, "worker", concurrency=concurrency),
              "sink": start_stage(bed, settings, "sink", database_url=settings.database_url,
                                  batch_size=settings.sink_batch_size)}
    children = list(stages.values())
    try:
        wait_for(lambda: all(stage_file(bed, settings, name, "ready").exists() for name in stages),
                 "the raw stages to join their groups", timeout=120, children=children)
        meter = CpuMeter({name: child.pid for name, child in stages.items()}
                         | {"broker": bed.broker.process.pid, "receiver": receiver.process.pid}, settings.database_url)
        meter.start()
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            started = time.monotonic()
            publish_all(settings, records)
            done = wait_for(lambda: conn.execute(f"SELECT count(*) FROM {TABLE} WHERE status = 'sent'").fetchone()[0] >= count,
                            "the raw sink to record every notification", timeout=120 + count / 10, children=children)
        cpu = meter.per(count)
    finally:
        stop_processes(children)
    return {"raw_pipeline_per_s": round(count / (done - started), 1), **{f"raw_cpu_us_{k}": v for k, v in cpu.items()}}


def measure(events: int = 20000, concurrency: int = 20) -> dict:
    with Testbed() as bed, ReceiverProcess() as receiver:
        settings = bed.settings("raw", database=True)
        return {"events": events, "concurrency": concurrency, **ceiling(bed, settings, receiver, events, concurrency)}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stage"]:
        _, name, config = argv
        STAGES[name](json.loads(Path(config).read_text()))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=20, help="POSTs in flight in the raw worker")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.events, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
