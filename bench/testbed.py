"""What every benchmark scenario stands on: the embedded broker, fresh Postgres databases, topics
with a fresh prefix, service processes, and reading a topic or a service's metrics from outside.

Postgres: TIDINGS_BENCH_DATABASE_URL (a server where databases may be created), else the local
server on 127.0.0.1:5432, else an embedded pgserver; every database made here is dropped after."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from cli.demo import demo_notification
from cli.embedded import EmbeddedBroker, EmbeddedPostgres
from cli.processes import start_services, stop_processes, wait_until_consuming
from consumer.publisher import Publisher
from consumer.retry_tiers import all_tier_names
from consumer.settings import Settings
from consumer.topics import Topics, create_topics
from tests.fixtures.postgres import LOCAL_SERVER_URL, answers, with_dbname
from tracking.migrate import migrate

# The bench receivers live on loopback, which the webhook channel's SSRF protection refuses unless allowed.
LOOPBACK = "127.0.0.1"


def notification(index: int, receiver_url: str) -> dict:
    """The demo's notification with a recipient of its own, so per-recipient rate limits (100 an
    hour by default) never suppress part of a benchmark's load."""
    event = demo_notification(index, "webhook", receiver_url)
    return {**event, "recipient": {**event["recipient"], "id": f"bench-{index}"}}


class Testbed:
    """One broker (in-memory Tansu, so each scenario run starts empty) and one Postgres server."""

    def __init__(self, partitions: int = 4):
        self.partitions = partitions
        self.workdir = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
        self.broker: EmbeddedBroker | None = None
        self._postgres: EmbeddedPostgres | None = None
        self._server_url: str | None = None
        self._databases: list[str] = []
        self._children: list[subprocess.Popen] = []

    def __enter__(self) -> "Testbed":
        self.broker = EmbeddedBroker(self.workdir / "broker.log").start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_services()
        if self.broker:
            self.broker.stop()
        for name in self._databases:
            with psycopg.connect(self._server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self._postgres:
            self._postgres.stop()
        if exc_info[0] is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"bench: the broker and service logs of the failed run are in {self.workdir}", file=sys.stderr)

    def settings(self, name: str, database: bool = False, extra_topics: tuple[str, ...] = (),
                 retry_tiers: str = "1s,2s") -> Settings:
        """Settings with a fresh topic prefix and groups (topics created), and optionally a fresh,
        migrated database. The tiers default to the tests' short ones (retries come due quickly)."""
        run = f"{name}-{uuid.uuid4().hex[:6]}"
        settings = Settings(bootstrap_servers=self.broker.bootstrap, topic_prefix=f"bench-{run}",
                            group_prefix=f"bench-{run}", partitions=self.partitions, session_timeout_ms=6000,
                            metrics_host="127.0.0.1", retry_tiers=retry_tiers, webhook_allowed_targets=LOOPBACK,
                            database_url=self.database() if database else None)
        names = Topics(settings.topic_prefix).all(all_tier_names(settings))
        create_topics(AdminClient(settings.kafka_common()), names + [f"{settings.topic_prefix}.{t}" for t in extra_topics],
                      settings.partitions)
        return settings

    def database(self) -> str:
        if self._server_url is None:
            self._server_url = os.environ.get("TIDINGS_BENCH_DATABASE_URL") or (
                LOCAL_SERVER_URL if answers(LOCAL_SERVER_URL) else None)
            if self._server_url is None:
                self._postgres = EmbeddedPostgres().start()
                self._server_url = self._postgres.url
        name = f"tidings_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        self._databases.append(name)
        url = with_dbname(self._server_url, name)
        migrate(url)
        return url

    def start_services(self, settings: Settings, services, **extra_env: str) -> list[subprocess.Popen]:
        """Start the services and wait until each has joined its group."""
        children = start_services(settings, self.workdir, services, **extra_env)
        self._children += children
        wait_until_consuming(children, timeout=120)
        return children

    def stop_services(self) -> None:
        stop_processes(self._children)
        self._children = []


def counter(child: subprocess.Popen, name: str) -> float:
    """Sum of one metric's samples on a service's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{child.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def http_ok(url: str) -> bool:
    """Whether a GET of the URL answers 200 (a service's health) now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def wait_for(condition, what: str, timeout: float, children: list[subprocess.Popen] = (), poll_s: float = 0.1) -> float:
    """Poll `condition()` until true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        crashed = [" ".join(c.args[3:]) for c in children if c.poll() is not None]
        if crashed:
            raise RuntimeError(f"{', '.join(crashed)} exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll_s)
    return time.monotonic()


def read_timestamps(settings: Settings, topics: list[str]) -> list[float]:
    """The record timestamps (epoch seconds) of every message in the topics, read to the end of
    each partition (Tansu's watermarks are not trusted, see docs/testing.md)."""
    consumer = Consumer({**settings.kafka_common(), "group.id": f"bench-reader-{uuid.uuid4().hex[:6]}",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    assignment = []
    for topic in topics:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        assignment += [TopicPartition(topic, p, 0) for p in partitions]
    consumer.assign(assignment)
    stamps, at_end = [], set()
    while len(at_end) < len(assignment):
        for m in consumer.consume(1000, 1.0):
            if m.error():
                at_end.add((m.topic(), m.partition()))
            else:
                stamps.append(m.timestamp()[1] / 1000)
    consumer.close()
    return stamps


def span_rate(stamps: list[float]) -> float:
    """Messages per second between the first and the last timestamp."""
    if len(stamps) < 2 or max(stamps) <= min(stamps):
        raise RuntimeError(f"cannot compute a rate from {len(stamps)} timestamps")
    return (len(stamps) - 1) / (max(stamps) - min(stamps))


def publish_all(settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    """Publish (topic, key, value) records and wait until the broker has acknowledged them."""
    publisher = Publisher.from_settings(settings)
    for topic, key, value in records:
        publisher.publish_sync(topic, value, key=key)
    left = publisher.close(timeout=120)
    if left:
        raise RuntimeError(f"{left} of {len(records)} records were not acknowledged")
