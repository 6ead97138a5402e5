"""The one Kafka producer of a process: idempotent, acks=all, delivery reports as asyncio futures.

confluent-kafka's asyncio producer cannot send headers, so this wraps the sync Producer with a
poll thread and turns each delivery callback into a future on the caller's event loop."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import Counter, deque
from typing import Any, Callable, Sequence

from confluent_kafka import KafkaException, Producer

from consumer.kafka_logging import routed

Headers = Sequence[tuple[str, bytes | str]]

# How long librdkafka gathers a partition's messages into one produce request. Output that
# something downstream waits for (the router's channel messages) leaves promptly; output only the
# stage's own offsets wait for (a channel worker's delivery events, retries and dead letters)
# gathers longer: each request costs the broker and both clients about the same whatever it holds,
# and a worker's `sent` events otherwise went out a request or two each (bench.end_to_end: broker
# CPU per notification 264 -> 108 us, the worker's 646 -> 464).
PROMPT_LINGER_MS = 5
GATHERED_LINGER_MS = 20


class PublishError(RuntimeError):
    """The broker did not acknowledge a message (after librdkafka's own retries). `code` is the
    KafkaError code, so callers can tell a message the broker will never take (too large) from
    an outage."""

    def __init__(self, text: str, code: int | None = None):
        super().__init__(text)
        self.code = code


class Publisher:
    def __init__(self, config: dict[str, Any], linger_ms: int = PROMPT_LINGER_MS):
        """`config`: librdkafka properties; a linger.ms among them wins over `linger_ms`."""
        # Called with a topic and how many publish()es to it were acknowledged (metrics); set by the runtime.
        self.on_acked: Callable[[str, int], None] | None = None
        self._producer = Producer(routed({
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "message.timeout.ms": 60000,
            **config,
        }))
        # Delivery reports waiting to be handed to their event loops: (loop, future, outcome, acked),
        # acked: the (topic, count) pairs the report acknowledges.
        self._settled: deque = deque()
        self._running = True
        self._poller = threading.Thread(target=self._poll_forever, name="publisher-poll", daemon=True)
        self._poller.start()

    @classmethod
    def from_settings(cls, settings, linger_ms: int = PROMPT_LINGER_MS, **extra: Any) -> "Publisher":
        """The config file's [kafka] table may set linger.ms too; its value wins."""
        return cls({**settings.kafka_common(), **extra}, linger_ms)

    def _poll_forever(self) -> None:
        while self._running:
            self._producer.poll(0.05)
            self._hand_over()

    def _hand_over(self) -> None:
        """Settle the futures of the delivery reports a poll served: one wake-up per event loop
        for the whole lot, not one per message (which cost the router a fifth of its loop time)."""
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        acked: Counter = Counter()
        while True:
            try:  # flush() on another thread may be taking reports too
                loop, future, outcome, counts = self._settled.popleft()
            except IndexError:
                break
            by_loop.setdefault(loop, []).append((future, outcome))
            for topic, count in counts:
                acked[topic] += count
        if self.on_acked is not None:
            for topic, count in acked.items():
                self.on_acked(topic, count)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, settled)

    def publish(self, topic: str, value: bytes, key: str | bytes | None = None,
                headers: Headers | None = None, partition: int | None = None) -> asyncio.Future:
        """Queue one message; the future resolves to (partition, offset) when acknowledged."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def on_delivery(err, msg) -> None:  # runs inside poll() or flush(); _hand_over settles it
            if err is not None:
                self._settled.append((loop, future, PublishError(f"{topic}: {err.str()}", err.code()), ()))
            else:
                self._settled.append((loop, future, (msg.partition(), msg.offset()), ((topic, 1),)))

        self._produce(topic, value, key, headers, on_delivery, partition)
        return future

    def publish_batch(self, messages: Sequence[tuple[str, bytes, str | bytes | None, Headers | None]]
                      ) -> asyncio.Future:
        """Queue (topic, value, key, headers) messages; one future for them all, resolved to their
        count once every one is acknowledged, or failed with the first error. A future per message
        costs more to create, settle and gather than producing the message does."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        if not messages:
            future.set_result(0)
            return future
        report = _BatchReport(self._settled, loop, future, messages)
        for topic, value, key, headers in messages:
            self._produce(topic, value, key, headers, report.on_delivery)
        return future

    def publish_sync(self, topic: str, value: bytes, key: str | bytes | None = None,
                     headers: Headers | None = None, on_delivery=None, partition: int | None = None) -> None:
        """Queue one message from synchronous code (CLI tools); call flush() to wait."""
        self._produce(topic, value, key, headers, on_delivery, partition)

    def _produce(self, topic, value, key, headers, on_delivery, partition=None) -> None:
        extra = {}  # only what is there: an empty header list alone costs produce() as much again
        if headers:
            extra["headers"] = list(headers)
        if partition is not None:
            extra["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
                return
            except BufferError:
                # Local queue full: let the poll thread drain delivery reports, then try again.
                time.sleep(0.01)
            except KafkaException as exc:
                raise PublishError(f"{topic}: {exc}", exc.args[0].code()) from exc

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding messages; returns how many are still undelivered."""
        remaining = self._producer.flush(timeout)
        self._hand_over()
        return remaining

    def close(self, timeout: float = 10.0) -> int:
        remaining = self.flush(timeout)
        self._running = False
        self._poller.join(timeout=1.0)
        return remaining


class _BatchReport:
    """The delivery reports of one publish_batch: the last one settles its future."""

    def __init__(self, settled: deque, loop: asyncio.AbstractEventLoop, future: asyncio.Future,
                 messages: Sequence[tuple]):
        self.settled, self.loop, self.future = settled, loop, future
        self.total = len(messages)
        self.topics = Counter(topic for topic, *_ in messages)
        self.error: PublishError | None = None
        self.failed: Counter = Counter()
        # next() on a count is atomic: flush() on another thread may serve reports beside poll().
        self.reported = itertools.count(1)

    def on_delivery(self, err, msg) -> None:
        if err is not None:
            self.failed[msg.topic()] += 1
            self.error = self.error or PublishError(f"{msg.topic()}: {err.str()}", err.code())
        if next(self.reported) == self.total:
            acked = tuple((topic, count - self.failed[topic]) for topic, count in self.topics.items()
                          if count > self.failed[topic])
            self.settled.append((self.loop, self.future, self.error or self.total, acked))


def _settle(settled: list[tuple[asyncio.Future, Any]]) -> None:
    for future, outcome in settled:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
