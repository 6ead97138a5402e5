"""`tidings demo`: the whole pipeline on one machine. Starts an embedded broker (unless
TIDINGS_BOOTSTRAP_SERVERS is set), an embedded Postgres (unless TIDINGS_DATABASE_URL is set), a
local webhook receiver, the router, the webhook channel and the sink as separate processes;
publishes N notifications over the four priorities and waits until each has a final status."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.embedded import EmbeddedBroker, EmbeddedPostgres
from cli.processes import start_services, stop_processes, wait_until_consuming
from consumer.codec import Codec
from consumer.health import start_app
from consumer.events import NOTIFICATION, lane, utcnow
from consumer.publisher import Publisher
from consumer.retry_tiers import all_tier_names
from consumer.settings import Settings
from consumer.topics import PRIORITIES, Topics, admin_client, create_topics
from tracking.migrate import migrate
from tracking.stats import current_statuses
from tracking.statuses import FINAL_STATUSES
from channels.webhook.settings import WebhookSettings

class Receiver:
    """The demo's webhook endpoint: counts distinct deliveries it got."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            body = await request.json()
            self.requests += 1
            self.ids.add(body["notification_id"])
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/hook", receive)
        self._runner, port = await start_app(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def demo_command(events: int, as_json: bool, settings: Settings) -> int:
    if events < 1:
        print("tidings demo: --events must be at least 1", file=sys.stderr)
        return 2
    console = Console(stderr=as_json, quiet=as_json)
    workdir = Path(tempfile.mkdtemp(prefix="tidings-demo-"))
    broker = postgres = None
    children: list[subprocess.Popen] = []
    try:
        if not os.environ.get("TIDINGS_BOOTSTRAP_SERVERS"):
            console.print("starting the embedded Kafka-protocol broker (Tansu)...")
            broker = EmbeddedBroker(workdir / "broker.log").start()
            settings = settings.replace(bootstrap_servers=broker.bootstrap)
        if not settings.database_url:
            console.print("starting the embedded PostgreSQL (pgserver)...")
            postgres = EmbeddedPostgres().start()
            settings = settings.replace(database_url=postgres.url)
        run_id = uuid.uuid4().hex[:8]
        # A fresh prefix and group per run, so a shared broker's older demo data is never re-read.
        settings = settings.replace(topic_prefix=f"{settings.topic_prefix}-demo-{run_id}",
                                    group_prefix=f"tidings-demo-{run_id}",
                                    partitions=min(settings.partitions, 4),
                                    # the demo's receiver is on loopback, which SSRF protection refuses
                                    webhook_allowed_targets=",".join(filter(None, [
                                        settings.section(WebhookSettings).webhook_allowed_targets, "127.0.0.1"])))
        create_topics(admin_client(settings.kafka_common()), Topics(settings.topic_prefix).all(all_tier_names(settings)), settings.partitions)
        migrate(settings.database_url)
        children = start_services(settings, workdir)
        console.print("starting router, webhook channel and sink...")
        wait_until_consuming(children)
        summary = asyncio.run(publish_and_wait(events, settings, console, children))
    except KeyboardInterrupt:
        console.print("interrupted; stopping everything the demo started")
        return 130
    finally:
        stop_processes(children)
        if broker:
            broker.stop()
        if postgres:
            postgres.stop()
    summary["logs"] = str(workdir)
    if as_json:
        print(json.dumps(summary))
    else:
        table = Table("measure", "value", title="tidings demo")
        for key, value in summary.items():
            table.add_row(key, str(value))
        console.print(table)
    return 0 if summary["complete"] else 1


def demo_notification(index: int, receiver_url: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "created_at": utcnow(),
        "priority": PRIORITIES[index % len(PRIORITIES)].upper(),
        "source": "demo",
        "tenant": "demo",
        "category": "demo",
        "channels": ["webhook"],
        # one recipient per notification: the default rate limit (100 per recipient per hour) never bites
        "recipient": {"id": f"user-{index}", "email": None, "phone": None, "slack": None,
                      "webhook_url": receiver_url, "locale": None},
        "content": {"webhook": {"template": None, "subject": f"Demo {index}", "text": "Hello from Tidings",
                                "html": None}},
        "data": json.dumps({"index": index}),
        "expires_at": None,
        "idempotency_key": None,
    }


async def publish_and_wait(events: int, settings: Settings, console: Console,
                           children: list[subprocess.Popen]) -> dict:
    receiver = Receiver()
    await receiver.start()
    codec = Codec.from_settings(settings)
    names = Topics(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    try:
        notifications = [demo_notification(i, receiver.url) for i in range(events)]
        started = time.monotonic()
        await asyncio.gather(*(
            publisher.publish(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                              key=n["recipient"]["id"]) for n in notifications))
        ids = [n["id"] for n in notifications]
        counts = await wait_for_final(settings.database_url, ids, events, console, children,
                                      deadline=time.monotonic() + 120 + events / 50)
        elapsed = time.monotonic() - started
    finally:
        publisher.close()
        await receiver.stop()
    final = sum(counts.get(status, 0) for status in FINAL_STATUSES)
    return {
        "published": events,
        "delivered": counts.get("sent", 0),
        "failed": final - counts.get("sent", 0),  # failed, dead-lettered, suppressed or expired
        "complete": final == events,
        "received_distinct": len(receiver.ids),
        "elapsed_s": round(elapsed, 3),
        "notifications_per_s": round(events / elapsed, 1) if elapsed else None,
    }


async def wait_for_final(database_url: str, ids: list[str], events: int, console: Console,
                         children: list[subprocess.Popen], deadline: float) -> dict:
    counts: dict[str, int] = {}
    with Progress(TextColumn("final statuses in Postgres"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("final", total=events)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                counts = {}
                for statuses in (await current_statuses(conn, ids)).values():
                    for status in statuses:
                        counts[status] = counts.get(status, 0) + 1
                done = sum(counts.get(status, 0) for status in FINAL_STATUSES)
                progress.update(task, completed=done)
                if done >= events:
                    break
                crashed = [c.args for c in children if c.poll() is not None]
                if crashed:
                    raise RuntimeError(f"a service exited early: {crashed}")
                await asyncio.sleep(0.25)
    return counts
