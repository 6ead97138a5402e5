"""The notification the benchmarks publish (bench/testbed.py, from the demo's) is still a valid
webhook notification: a change to the demo's builder must not break `make bench` unnoticed."""
from __future__ import annotations

from bench.testbed import notification
from consumer.codec import Codec
from consumer.events import NOTIFICATION
from consumer.settings import Settings
from router.fanout import fan_out


def test_the_bench_notification_encodes_and_fans_out_to_its_receiver():
    event = notification(7, "http://127.0.0.1:9/hook")
    codec = Codec.from_settings(Settings())
    decoded = codec.decode(NOTIFICATION, codec.encode(NOTIFICATION, event))
    [delivery] = fan_out(decoded)
    assert delivery.channel == "webhook" and delivery.message["address"] == "http://127.0.0.1:9/hook"
    assert delivery.suppressed is None and decoded["recipient"]["id"] == "bench-7"
