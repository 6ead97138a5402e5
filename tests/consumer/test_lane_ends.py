"""The consume loop on the real broker: a lane whose last message is fetched is caught up at once,
from the high watermark of the fetch that brought it, so the lanes below it are resumed while its
last batch is worked on. librdkafka's own end-of-partition event comes only once a later fetch
returns empty, fetch.wait.max.ms later (3 s here)."""
from __future__ import annotations

from consumer.metrics import ServiceMetrics
from consumer.publisher import Publisher
from consumer.stream import StreamConsumer
from consumer.topics import Topics
from tests.consumer.test_isolation import run_until

URGENT = 20
LOW = 5


def test_a_lane_at_its_high_watermark_resumes_the_lanes_below_before_its_end_event(settings):
    settings = settings.replace(priority_lag_messages=1, priority_resume_after_s=0.0, priority_max_pause_s=0.0,
                                kafka={**settings.kafka, "fetch.wait.max.ms": "3000"})
    names = Topics(settings.topic_prefix)
    urgent_topic, low_topic = names.channel("webhook", "urgent"), names.channel("webhook", "low")
    publisher = Publisher.from_settings(settings)
    for i in range(URGENT):
        publisher.publish_sync(urgent_topic, f"urgent-{i}".encode(), key=b"k", partition=0)
    for i in range(LOW):
        publisher.publish_sync(low_topic, f"low-{i}".encode(), key=b"k", partition=0)
    assert publisher.close() == 0

    handled: list[str] = []
    low_paused_at_last_urgent: list[set] = []

    async def handle(messages) -> None:
        values = [m.value().decode() for m in messages]
        if f"urgent-{URGENT - 1}" in values:
            low_paused_at_last_urgent.append({key for key in stream._paused if key[0] == low_topic})
        handled.extend(values)

    stream = StreamConsumer(settings, ServiceMetrics("test"), f"{settings.group_prefix}.ends",
                            [urgent_topic, low_topic], handle)
    run_until(stream, lambda: len(handled) >= URGENT + LOW)

    assert handled[:URGENT] == [f"urgent-{i}" for i in range(URGENT)]  # strict priority
    assert sorted(handled[URGENT:]) == sorted(f"low-{i}" for i in range(LOW))
    assert low_paused_at_last_urgent == [set()], "the LOW lane waited for the URGENT lane's end event"
