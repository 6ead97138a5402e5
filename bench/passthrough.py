"""The ceiling the router is compared with: a bare consume -> produce loop in one process that
copies the same event bytes (same key) from the four event topics to one topic, with the same
consumer and producer settings as the runtime, and no decoding. Exits after COUNT messages are acknowledged and prints their rate, timed from the
first message consumed to the last acknowledgement (the producer's own timestamps would only time
the enqueueing).

  python -m bench.passthrough BOOTSTRAP GROUP OUT_TOPIC COUNT IN_TOPIC..."""
from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Consumer, Producer

from consumer.publisher import PROMPT_LINGER_MS
from consumer.stream import FETCH_WAIT_MS


def copy(bootstrap: str, group: str, out_topic: str, count: int, in_topics: list[str]) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 1200, "fetch.wait.max.ms": FETCH_WAIT_MS})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": PROMPT_LINGER_MS})
    consumer.subscribe(in_topics)
    copied, started = 0, None
    while copied < count:
        for message in consumer.consume(500, 0.1):
            if message.error():
                continue
            started = started or time.perf_counter()
            while True:
                try:
                    producer.produce(out_topic, value=message.value(), key=message.key())
                    break
                except BufferError:
                    producer.poll(0.01)
            copied += 1
        producer.poll(0)
    if producer.flush(60):
        raise SystemExit("passthrough: messages left unacknowledged")
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


if __name__ == "__main__":
    bootstrap, group, out_topic, count, *in_topics = sys.argv[1:]
    print(json.dumps({"events_per_s": copy(bootstrap, group, out_topic, int(count), in_topics)}))
