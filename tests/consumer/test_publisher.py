"""The Publisher's batch of messages with one future: it resolves once the broker has every
message, counts what was acknowledged per topic, and fails when one message is not taken."""
from __future__ import annotations

import asyncio
import time

import pytest

from consumer import publisher as publisher_module
from consumer.publisher import GATHERED_LINGER_MS, PROMPT_LINGER_MS, Publisher, PublishError
from consumer.settings import Settings
from consumer.topics import Topics
from tests.pipeline import read_topic


def test_a_batch_resolves_once_every_message_is_on_its_topic(settings):
    names = Topics(settings.topic_prefix)
    first, second = names.channel("webhook", "normal"), names.deliveries
    publisher = Publisher.from_settings(settings)
    acked: list[tuple[str, int]] = []
    publisher.on_acked = lambda topic, count: acked.append((topic, count))

    async def publish() -> int:
        return await asyncio.wait_for(publisher.publish_batch(
            [(first, f"m{i}".encode(), f"k{i}", None) for i in range(5)]
            + [(second, b"record", "k", [("tidings-test", b"1")])]), timeout=60)

    try:
        assert asyncio.run(publish()) == 6
    finally:
        publisher.close()
    assert sorted(m.value() for m in read_topic(settings, first)) == [f"m{i}".encode() for i in range(5)]
    (record,) = read_topic(settings, second)
    assert record.headers() == [("tidings-test", b"1")]
    assert sorted(acked) == sorted([(first, 5), (second, 1)])


def test_a_batch_fails_when_a_message_is_not_acknowledged():
    # Nothing listens on port 9: every message times out in librdkafka and reports its failure.
    publisher = Publisher({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 1000})
    acked: list[tuple[str, int]] = []
    publisher.on_acked = lambda topic, count: acked.append((topic, count))

    async def publish() -> int:
        return await asyncio.wait_for(publisher.publish_batch([("nowhere", b"a", "k", None), ("nowhere", b"b", "k", None)]),
                                      timeout=60)

    try:
        with pytest.raises(PublishError) as failure:
            asyncio.run(publish())
    finally:
        publisher.close(timeout=1.0)
    assert str(failure.value).startswith("nowhere: ")
    assert acked == []  # nothing was acknowledged


def test_an_empty_batch_is_done_at_once():
    publisher = Publisher({"bootstrap.servers": "127.0.0.1:9"})

    async def publish() -> int:
        return await publisher.publish_batch([])

    try:
        assert asyncio.run(publish()) == 0
    finally:
        publisher.close(timeout=0.1)


def test_the_linger_is_the_stages_unless_the_config_file_says_otherwise(monkeypatch):
    """A channel worker's output gathers for GATHERED_LINGER_MS; the router's leaves promptly; a
    [kafka] linger.ms in the config file wins over both."""
    configs: list[dict] = []

    class Recorded:
        def __init__(self, config):
            configs.append(config)

        def poll(self, timeout):
            time.sleep(timeout)

    monkeypatch.setattr(publisher_module, "Producer", Recorded)
    made = [Publisher.from_settings(Settings()), Publisher.from_settings(Settings(), linger_ms=GATHERED_LINGER_MS),
            Publisher.from_settings(Settings(kafka={"linger.ms": "50"}), linger_ms=GATHERED_LINGER_MS)]
    for publisher in made:
        publisher._running = False
    assert [c["linger.ms"] for c in configs] == [PROMPT_LINGER_MS, 20, "50"]
    assert PROMPT_LINGER_MS < GATHERED_LINGER_MS
