"""Helpers shared by the end-to-end tests: make and publish notifications, read Postgres, read topics."""
from __future__ import annotations

import json
import time
import uuid

import psycopg
from confluent_kafka import Consumer, TopicPartition

from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane, utcnow
from consumer.publisher import Publisher
from consumer.settings import Settings
from consumer.topics import PRIORITIES, Topics


def make_notifications(count: int, webhook_url: str, channels=("webhook",)) -> list[dict]:
    return [{
        "id": str(uuid.uuid4()),
        "created_at": utcnow(),
        "priority": PRIORITIES[i % 4].upper(),
        "source": "tests",
        "tenant": "acme",
        "category": "test",
        "channels": list(channels),
        "recipient": {"id": f"user-{i % 37}", "email": None, "phone": None, "slack": None,
                      "webhook_url": webhook_url, "locale": None},
        "content": {"default": {"template": None, "subject": f"n{i}", "text": f"hello {i}", "html": None}},
        "data": json.dumps({"i": i, "nested": {"list": [1, 2, 3]}}),
        "expires_at": None,
        "idempotency_key": None,
    } for i in range(count)]


def publish(settings: Settings, notifications: list[dict]) -> None:
    codec = Codec.from_settings(settings)
    names = Topics(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    for n in notifications:
        publisher.publish_sync(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                               key=n["recipient"]["id"])
    assert publisher.close(timeout=30) == 0


def publish_raw(settings: Settings, topic: str, value: bytes) -> None:
    publisher = Publisher.from_settings(settings)
    publisher.publish_sync(topic, value, key=b"poison")
    assert publisher.close(timeout=30) == 0


def current_statuses(database_url: str, notification_ids) -> dict[str, str]:
    """notification id -> current status of its (single) delivery."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT notification_id::text, status FROM deliveries WHERE notification_id = ANY(%s::uuid[])",
                            [list(map(str, notification_ids))]).fetchall()
    return dict(rows)


def wait_for_statuses(database_url: str, notification_ids, statuses=("sent",), timeout: float = 120) -> dict[str, str]:
    ids = set(map(str, notification_ids))
    deadline = time.monotonic() + timeout
    found: dict[str, str] = {}
    while time.monotonic() < deadline:
        found = current_statuses(database_url, ids)
        if len(found) == len(ids) and all(s in statuses for s in found.values()):
            return found
        time.sleep(0.25)
    missing = len(ids) - sum(1 for s in found.values() if s in statuses)
    raise AssertionError(f"{missing} of {len(ids)} notifications lack a status in {statuses}: "
                         f"{sorted(set(found.values()))}")


def read_topic(settings: Settings, topic: str, idle_s: float = 1.5, timeout: float = 60) -> list:
    """Every message in a topic, read from offset 0 until nothing new arrives for `idle_s`.

    Counted by reading, not from watermarks: Tansu 0.6's ListOffsets reports wrong high
    watermarks for batched produce (measured: 1 for a partition holding 136 messages)."""
    consumer = Consumer({**settings.kafka_common(), "group.id": "tests-reader", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions])
        messages, last_new = [], time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() - last_new < idle_s and time.monotonic() < deadline:
            batch = [m for m in consumer.consume(500, 0.2) if m.error() is None]
            if batch:
                messages += batch
                last_new = time.monotonic()
        return messages
    finally:
        consumer.close()


def event_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM delivery_events").fetchone()[0]
