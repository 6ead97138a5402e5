"""The end-to-end benchmark's Celery peer sends the body Tidings' webhook channel sends, and delivers
every notification it is given. Skipped where celery (a bench extra) is not installed."""
from __future__ import annotations

import shutil

import pytest

pytest.importorskip("celery")
redis = pytest.importorskip("redis")

from bench.celery_app import webhook_body  # noqa: E402
from bench.celery_peer import LOCAL_REDIS, json_ready, peer  # noqa: E402
from bench.receiver import ReceiverProcess  # noqa: E402
from bench.testbed import notification  # noqa: E402
from channels.webhook.request import payload  # noqa: E402
from consumer.codec import Codec  # noqa: E402
from consumer.events import NOTIFICATION  # noqa: E402
from consumer.settings import Settings  # noqa: E402
from router.fanout import fan_out  # noqa: E402


def test_the_peer_posts_the_fields_the_webhook_channel_posts():
    event = notification(3, "http://127.0.0.1:9/hook")
    codec = Codec.from_settings(Settings())
    [delivery] = fan_out(codec.decode(NOTIFICATION, codec.encode(NOTIFICATION, event)))
    ours, celery = payload(delivery.message), webhook_body(json_ready(event))
    assert celery.keys() == ours.keys()
    assert (celery["notification_id"], celery["priority"], celery["data"]) == (
        ours["notification_id"], ours["priority"], ours["data"])


def _local_redis() -> bool:
    try:
        with redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=0.5) as client:
            return client.ping()
    except redis.RedisError:
        return False


@pytest.mark.skipif(not shutil.which("redis-server") and not _local_redis(), reason="no Redis to run Celery on")
def test_the_peer_delivers_every_notification_and_reports_its_cpu():
    with ReceiverProcess() as receiver:
        figures = peer(receiver, 50, first=1000)
        assert receiver.count() == 50
    assert figures["celery_notifications"] == 50 and figures["celery_per_s"] > 0
    assert figures["celery_cpu_us"] == pytest.approx(
        figures["celery_worker_cpu_us"] + figures["celery_redis_cpu_us"] + figures["celery_publisher_cpu_us"], abs=0.5)
    assert figures["celery_worker_cpu_us"] > 0 and figures["celery_worker_rss_mb"] > 0
