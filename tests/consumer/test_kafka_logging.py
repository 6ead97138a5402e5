"""consumer.kafka_logging: librdkafka's lines through logging, repeats held back, and an unreachable
broker told apart from the broker's own answers (a real client against a refused port)."""
from __future__ import annotations

import logging
import socket

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer import kafka_logging
from consumer.kafka_logging import BrokerUnreachable, Repeats, check_reachable, routed, unreachable
from consumer.topics import admin_client

REFUSED = ("127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused "
           "(after 0ms in state CONNECT)")


def record(text: str) -> logging.LogRecord:
    return logging.LogRecord("librdkafka", logging.ERROR, __file__, 1, "%s", (text,), None)


def test_a_repeated_line_passes_once_per_interval_and_then_says_how_many_were_held():
    now = [100.0]
    repeats = Repeats(every_s=30, clock=lambda: now[0])
    assert repeats.filter(record(REFUSED))
    now[0] += 1
    # The same failure a moment later ("after 3ms" instead of "after 0ms") is the same line.
    assert not repeats.filter(record(REFUSED.replace("after 0ms", "after 3ms")))
    assert not repeats.filter(record(REFUSED))
    assert repeats.filter(record("another line"))
    now[0] += 30
    again = record(REFUSED)
    assert repeats.filter(again)
    assert again.getMessage() == f"{REFUSED} (2 more like this in the last 31s)"
    now[0] += 31
    quiet_since = record(REFUSED)
    assert repeats.filter(quiet_since) and quiet_since.getMessage() == REFUSED


def test_routed_sends_lines_and_errors_to_logging_but_keeps_a_callers_error_callback():
    config = routed({"bootstrap.servers": "b:9092"})
    assert config["logger"] is kafka_logging.log and config["error_cb"] is kafka_logging.on_error
    own = routed({"bootstrap.servers": "b:9092", "error_cb": print})
    assert own["error_cb"] is print and own["logger"] is kafka_logging.log


@pytest.mark.parametrize("code, means_unreachable", [
    (KafkaError._TRANSPORT, True), (KafkaError._ALL_BROKERS_DOWN, True), (KafkaError._RESOLVE, True),
    (KafkaError._TIMED_OUT, True), (KafkaError.TOPIC_ALREADY_EXISTS, False), (KafkaError.MSG_SIZE_TOO_LARGE, False),
])
def test_only_connection_errors_mean_the_broker_is_unreachable(code, means_unreachable):
    found = unreachable(KafkaException(KafkaError(code, "x")), "b1:9092,b2:9092")
    assert (found is not None) == means_unreachable
    if found:
        assert str(found).startswith("cannot reach the Kafka broker at b1:9092,b2:9092 (")
    assert unreachable(ValueError("no"), "b:9092") is None


def test_a_real_client_against_a_refused_port_names_the_servers_and_the_cause(caplog):
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        servers = f"127.0.0.1:{sock.getsockname()[1]}"
        with caplog.at_level(logging.DEBUG, logger="librdkafka"), pytest.raises(BrokerUnreachable) as caught:
            check_reachable(admin_client({"bootstrap.servers": servers}), servers, timeout_s=2)
    assert str(caught.value) == f"cannot reach the Kafka broker at {servers} (Connection refused)"
    lines = [r.getMessage() for r in caplog.records if r.name == "librdkafka"]
    assert any("Connection refused" in line for line in lines), lines
