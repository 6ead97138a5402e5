"""The one Kafka producer of a process: idempotent, acks=all, delivery reports as asyncio futures.

confluent-kafka's asyncio producer cannot send headers, so this wraps the sync Producer with a
poll thread and turns each delivery callback into a future on the caller's event loop."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Sequence

from confluent_kafka import KafkaException, Producer

Headers = Sequence[tuple[str, bytes | str]]


class PublishError(RuntimeError):
    """The broker did not acknowledge a message (after librdkafka's own retries)."""


class Publisher:
    def __init__(self, config: dict[str, Any]):
        # Called with the topic of every acknowledged publish() (metrics); set by the runtime.
        self.on_acked: Callable[[str], None] | None = None
        self._producer = Producer({
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60000,
            **config,
        })
        self._running = True
        self._poller = threading.Thread(target=self._poll_forever, name="publisher-poll", daemon=True)
        self._poller.start()

    @classmethod
    def from_settings(cls, settings, **extra: Any) -> "Publisher":
        return cls({**settings.kafka_common(), **extra})

    def _poll_forever(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    def publish(self, topic: str, value: bytes, key: str | bytes | None = None,
                headers: Headers | None = None, partition: int | None = None) -> asyncio.Future:
        """Queue one message; the future resolves to (partition, offset) when acknowledged."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def on_delivery(err, msg) -> None:
            if err is not None:
                loop.call_soon_threadsafe(_fail, future, PublishError(f"{topic}: {err.str()}"))
            else:
                if self.on_acked is not None:
                    self.on_acked(topic)
                loop.call_soon_threadsafe(_succeed, future, (msg.partition(), msg.offset()))

        self._produce(topic, value, key, headers, on_delivery, partition)
        return future

    def publish_sync(self, topic: str, value: bytes, key: str | bytes | None = None,
                     headers: Headers | None = None, on_delivery=None, partition: int | None = None) -> None:
        """Queue one message from synchronous code (CLI tools); call flush() to wait."""
        self._produce(topic, value, key, headers, on_delivery, partition)

    def _produce(self, topic, value, key, headers, on_delivery, partition=None) -> None:
        where = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=list(headers or ()),
                                       on_delivery=on_delivery, **where)
                return
            except BufferError:
                # Local queue full: let the poll thread drain delivery reports, then try again.
                time.sleep(0.01)
            except KafkaException as exc:
                raise PublishError(f"{topic}: {exc}") from exc

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding messages; returns how many are still undelivered."""
        return self._producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> int:
        remaining = self.flush(timeout)
        self._running = False
        self._poller.join(timeout=1.0)
        return remaining


def _succeed(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
