"""A channel added by a separate Python package, without editing Tidings: tests/plugins/tidings_pager
is pip-installed into a directory of its own, and processes that can import it (PYTHONPATH) find
the `pager` channel through the entry-point group `tidings.channels`: `tidings topics create`
makes its topics, the router fans out to it, `tidings run channel pager` delivers through it, and
the sink records `sent`."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.publisher import Publisher
from consumer.topics import Topics
from tests.cli.run import tidings
from tests.pipeline import make_notifications, wait_for_statuses

PLUGIN = Path(__file__).parent / "plugins" / "tidings_pager"


def test_an_installed_channel_package_is_routed_delivered_and_tracked(pipeline, services, webhook_receiver,
                                                                    tmp_path):
    target, source = tmp_path / "site", tmp_path / "tidings_pager"
    shutil.copytree(PLUGIN, source)  # pip builds in the source tree: keep tests/ clean
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    with_plugin = {"PYTHONPATH": str(target)}

    listed = tidings(pipeline, "run", "channel", "--help", **with_plugin)
    assert "pager" in listed.stdout, listed.stdout + listed.stderr
    created = tidings(pipeline, "topics", "create", "--partitions", str(pipeline.partitions),
                      TIDINGS_RETRY_TIERS=pipeline.retry_tiers, **with_plugin)
    assert created.returncode == 0, created.stderr
    assert f"{pipeline.topic_prefix}.channel.pager.urgent: created" in created.stdout

    services.start("run", "router", wait=False, **with_plugin)
    worker = services.start("run", "channel", "pager", wait=False, **with_plugin)
    services.start("run", "sink", wait=False)
    for process in services.started:
        process.wait_assigned()

    notifications = make_notifications(5, webhook_receiver.url, channels=("pager",))
    for n in notifications:  # the receiver records the notification id the body carries
        n["recipient"]["addresses"] = {"pager": webhook_receiver.url}
        n["content"] = {"pager": {"template": None, "subject": "Disk full", "text": f"node {n['id']}",
                                  "html": None, "options": "{}"}}
    codec, names = Codec.from_settings(pipeline), Topics(pipeline.topic_prefix)
    publisher = Publisher.from_settings(pipeline)
    for n in notifications:
        publisher.publish_sync(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                               key=n["recipient"]["id"])
    assert publisher.close(timeout=30) == 0

    try:
        wait_for_statuses(pipeline.database_url, [n["id"] for n in notifications], timeout=120)
    except AssertionError:
        with psycopg.connect(pipeline.database_url) as conn:
            raise AssertionError(conn.execute("SELECT status, stage, reason, error_class, error_message FROM deliveries"
                                              ).fetchall()) from None
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT DISTINCT channel, provider FROM deliveries WHERE status = 'sent'").fetchall()
    assert rows == [("pager", "pager")]
    assert worker.metric("tidings_delivery_events_total", channel="pager", status="sent") == 5
    assert sorted(b["text"] for b in webhook_receiver.bodies) == sorted(f"node {n['id']}" for n in notifications)
    assert {b["title"] for b in webhook_receiver.bodies} == {"Disk full"}
