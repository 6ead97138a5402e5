"""librdkafka's log lines and errors, through Python logging, for every Kafka client Tidings
creates (the stream consumer, the publisher, the admin clients of the CLI), never straight to stderr.

Services log them like any other line (a line repeated many times a second is let through once
per 30 s). One-shot commands keep them quiet (`quiet_for_commands`) and turn an unreachable broker
into BrokerUnreachable: one line naming the bootstrap servers (cli/main.py)."""
from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import deque
from typing import Any, Callable, Iterator

from confluent_kafka import KafkaError, KafkaException

# Error codes that mean "no broker answered", not "the broker said no".
UNREACHABLE = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
                         KafkaError._TIMED_OUT})
# librdkafka's words for a failed connection, e.g.
#   127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)
#   kafka:9092/bootstrap: Failed to resolve 'kafka:9092': Name or service not known (after 2ms in state CONNECT)
_AFTER = re.compile(r" \(after \d+ms in state \w+\)")
# librdkafka adds ", N identical error(s) suppressed" when the same failure repeats within a second.
_CAUSE = re.compile(r"^(?:\S+/\S+: )?(?:Connect to \S+ failed: )?(?P<cause>.+?)"
                    r"(?: \(after \d+ms in state \w+(?:, \d+ identical error\(s\) suppressed)?\))?$")


class Repeats(logging.Filter):
    """Lets each line through once per `every_s`: against a dead broker librdkafka reports every
    reconnect, many times a second. The next one that passes says how many were held back."""

    def __init__(self, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.every_s, self.clock = every_s, clock
        self._seen: dict[str, tuple[float, int]] = {}  # text -> (when it last passed, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key, now = _AFTER.sub("", text), self.clock()
        passed, held = self._seen.get(key, (None, 0))
        if passed is not None and now - passed < self.every_s:
            self._seen[key] = (passed, held + 1)
            return False
        if len(self._seen) >= 1000:  # bounded: forgetting only lets a repeat through early
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg, record.args = f"{text} ({held} more like this in the last {now - passed:.0f}s)", ()
        return True


# librdkafka's own lines ("FAIL [rdkafka#consumer-1] [thrd:...]: ...") and its error callbacks.
log = logging.getLogger("librdkafka")
log.addFilter(Repeats())

# The latest connection failure a client of this process was told about: the "why" of the CLI's line.
_latest_failure: deque[str] = deque(maxlen=1)


def on_error(err: KafkaError) -> None:
    """librdkafka's error callback: a broker-wide error (the client retries by itself)."""
    if err.code() in (KafkaError._TRANSPORT, KafkaError._RESOLVE):
        _latest_failure.append(err.str())
    log.log(logging.ERROR if err.fatal() else logging.WARNING, "%s: %s", err.name(), err.str())


def routed(config: dict[str, Any]) -> dict[str, Any]:
    """A client configuration with librdkafka's log lines sent to the `librdkafka` logger and its
    errors to `on_error`, unless `config` brings its own error callback."""
    return {"logger": log, "error_cb": on_error, **config}


class BrokerUnreachable(RuntimeError):
    """No broker of the bootstrap servers answered."""

    def __init__(self, servers: str, cause: str):
        super().__init__(f"cannot reach the Kafka broker at {servers} ({cause})")
        self.servers, self.cause = servers, cause


def unreachable(exc: BaseException, servers: str) -> BrokerUnreachable | None:
    """`exc` as BrokerUnreachable when it means that no broker answered, else None."""
    if isinstance(exc, BrokerUnreachable):
        return exc
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if not isinstance(error, KafkaError) or error.code() not in UNREACHABLE:
        return None
    return BrokerUnreachable(servers, latest_cause() or error.str().removeprefix("Failed to get metadata: "))


def latest_cause() -> str | None:
    """Why the latest connection failed, in librdkafka's words ("Connection refused")."""
    if not _latest_failure:
        return None
    text = _latest_failure[-1]
    match = _CAUSE.search(text)
    return match["cause"] if match else text


def check_reachable(client: Any, servers: str, timeout_s: float = 10.0) -> None:
    """Raise BrokerUnreachable unless `client` (an AdminClient) gets the cluster's metadata within
    `timeout_s`: a command learns that it cannot reach the broker before it starts any work."""
    try:
        client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        if (found := unreachable(exc, servers)) is None:
            raise
        client.poll(0)  # serve the error callbacks queued meanwhile: they say why
        raise unreachable(exc, servers) or found from None


@contextlib.contextmanager
def quiet_for_commands(level: str) -> Iterator[None]:
    """A one-shot command reports its own outcome, so librdkafka's lines (a wall of them when the
    broker is down) are dropped, unless the log level is DEBUG: then everything is logged."""
    previous = log.level
    if level.upper() == "DEBUG":
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    else:
        log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(previous)
