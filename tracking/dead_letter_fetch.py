"""Reading chosen dead letters back from the broker by (partition, offset), for `tidings dlq show`
and replays: Postgres (tracking.dead_letters) says where they are, this reads only those."""
from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from typing import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.kafka_logging import routed
from consumer.settings import Settings
from tracking.dead_letters import DeadLetter

log = logging.getLogger(__name__)

# Offsets between two wanted ones worth reading through rather than seeking over: one fetch
# returns hundreds of small messages, a seek costs a fetch round trip.
SEEK_AHEAD = 200

Position = tuple[int, int]


def fetch_dead_letters(settings: Settings, topic: str, positions: Iterable[Position], idle_s: float = 2.0,
                       timeout_s: float = 120.0) -> dict[Position, DeadLetter]:
    """The messages at these positions. A position missing from the answer is no longer on the
    topic (retention, a recreated topic); nothing is committed, no group is joined.

    Each partition is assigned at its first wanted offset and read forward, seeking over long runs
    of messages nobody asked for. A partition ends at its last wanted offset or at its end
    (partition EOF); a broker that goes quiet ends the read after `idle_s` without a message."""
    wanted: dict[int, list[int]] = {}
    for partition, offset in sorted(set(positions)):
        wanted.setdefault(partition, []).append(offset)
    if not wanted:
        return {}
    consumer = Consumer(routed({**settings.kafka_common(), "group.id": f"tidings-dlq-fetch-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        pending = {p: deque(offsets) for p, offsets in wanted.items() if p in metadata.partitions}
        if not pending:
            return {}
        consumer.assign([TopicPartition(topic, p, offsets[0]) for p, offsets in pending.items()])
        found: dict[Position, DeadLetter] = {}
        last_new = time.monotonic()
        deadline = last_new + timeout_s
        while pending and time.monotonic() - last_new < idle_s and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.2):
                partition = message.partition()
                queue = pending.get(partition)
                if queue is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        del pending[partition]  # what is still wanted is not on the topic
                    else:
                        log.warning("reading %s[%d]: %s", topic, partition, error)
                    continue
                last_new = time.monotonic()
                offset = message.offset()
                while queue and queue[0] < offset:  # stepped over: gone (retention, compaction)
                    queue.popleft()
                if queue and queue[0] == offset:
                    found[(partition, offset)] = DeadLetter.of(message)
                    queue.popleft()
                if not queue:
                    del pending[partition]
                    consumer.pause([TopicPartition(topic, partition)])
                elif queue[0] - offset > SEEK_AHEAD:
                    _seek(consumer, TopicPartition(topic, partition, queue[0]))
        return found
    finally:
        consumer.close()


def _seek(consumer: Consumer, position: TopicPartition) -> None:
    try:
        consumer.seek(position)
    except KafkaException as exc:  # reading on through the gap instead is slower, not wrong
        log.debug("seek %s[%d] to %d: %s", position.topic, position.partition, position.offset, exc)
