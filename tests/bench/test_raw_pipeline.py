"""The raw pipeline (the end-to-end ceiling) builds the channel message the router builds, stores
offsets only behind every acknowledgement and in consume order, and measures a tiny run."""
from __future__ import annotations

from types import SimpleNamespace

from bench.raw_pipeline import Acknowledged, Arrivals, channel_message, measure
from bench.testbed import notification
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, NOTIFICATION
from consumer.settings import Settings
from router.fanout import fan_out


def test_the_raw_router_publishes_the_message_the_router_fans_out():
    codec = Codec.from_settings(Settings())
    event = codec.decode(NOTIFICATION, codec.encode(NOTIFICATION, notification(3, "http://127.0.0.1:9/hook")))
    [delivery] = fan_out(event)
    raw = codec.decode(CHANNEL_MESSAGE, codec.encode(CHANNEL_MESSAGE, channel_message(event)))
    assert raw == codec.decode(CHANNEL_MESSAGE, codec.encode(CHANNEL_MESSAGE, delivery.message))


def _message(partition: int, offset: int):
    return SimpleNamespace(topic=lambda: "t", partition=lambda: partition, offset=lambda: offset, error=lambda: None)


def test_a_fetch_that_skipped_offsets_is_fetched_again_from_the_first_missing_one():
    seeks = []
    arrived = Arrivals(SimpleNamespace(seek=lambda tp: seeks.append((tp.partition, tp.offset))))
    assert [m.offset() for m in arrived([_message(0, 0), _message(0, 1), _message(1, 0)])] == [0, 1, 0]
    # Partition 0 skipped 2-3: nothing more of it is taken until it is fetched again from 2.
    taken = arrived([_message(0, 4), _message(1, 1), _message(0, 5)])
    assert [(m.partition(), m.offset()) for m in taken] == [(1, 1)] and seeks == [(0, 2)]
    taken = arrived([_message(0, 1), _message(0, 2), _message(0, 3), _message(0, 4)])  # a repeat is dropped
    assert [m.offset() for m in taken] == [2, 3, 4]


def test_offsets_are_stored_in_consume_order_once_a_batch_is_acknowledged():
    stored = []
    acked = Acknowledged(SimpleNamespace(store_offsets=lambda offsets: stored.append(
        sorted((tp.partition, tp.offset) for tp in offsets))))
    first = acked.open([_message(0, 5), _message(1, 7), _message(0, 6)], outputs=2)
    second = acked.open([_message(0, 8)], outputs=1)
    acked.callback(second)(None, None)
    acked.store()
    assert stored == []  # the second batch waits for the first
    acked.callback(first)(None, None)
    acked.store()
    assert stored == []
    acked.callback(first)(None, None)
    acked.store()
    assert stored == [[(0, 7), (1, 8)], [(0, 9)]]


def test_a_tiny_raw_pipeline_run_gives_its_rate_and_cpu_per_notification():
    figures = measure(events=200)
    assert figures["raw_pipeline_per_s"] > 0
    assert all(figures[f"raw_cpu_us_{stage}"] >= 0
               for stage in ("router", "worker", "sink", "broker", "receiver", "postgres"))
    assert figures["raw_cpu_us_total"] > 0
