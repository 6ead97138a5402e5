"""`tidings demo`: the whole pipeline on one machine. Starts an embedded broker (unless
TIDINGS_BOOTSTRAP_SERVERS is set), an embedded Postgres (unless TIDINGS_DATABASE_URL is set), local
fakes of the chosen channels' services (cli/demo_fakes.py), the router, one worker per channel and
the sink as separate processes; publishes N notifications over the four priorities, each to one
channel in turn, and waits until each has a final status."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.demo_fakes import DEMO_CHANNELS, DemoFakes, text_of
from cli.embedded import EmbeddedBroker, EmbeddedPostgres
from cli.processes import start_services, stop_processes, wait_until_consuming
from consumer.channel_specs import channel_names
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane, new_id, utcnow
from consumer.publisher import Publisher
from consumer.retry_tiers import all_tier_names
from consumer.settings import Settings
from consumer.topics import PRIORITIES, Topics, admin_client, create_topics
from tracking.migrate import migrate
from tracking.stats import current_statuses
from consumer.statuses import FINAL_STATUSES
from channels.webhook.settings import WebhookSettings

# What a channel's worker (and its fake) imports in the demo -> the package, from the channel's extra.
NEEDS = {"push": {"google.auth": "google-auth", "requests": "requests", "cryptography": "cryptography"},
         "apprise": {"apprise": "apprise"}}


class ChoiceError(ValueError):
    """--channels names something the demo cannot run; the message says what it can."""


def chosen_channels(text: str) -> list[str]:
    """`webhook,teams` -> ["webhook", "teams"]; `all` -> every channel that has a demo fake."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if "all" in names:
        return list(DEMO_CHANNELS)
    can = f"the demo runs {', '.join(DEMO_CHANNELS)} or all"
    if not names:
        raise ChoiceError(f"--channels names no channel ({can})")
    for name in names:
        if name in channel_names() and name not in DEMO_CHANNELS:
            raise ChoiceError(f"--channels: {name} has no local fake in the demo ({can})")
        if name not in DEMO_CHANNELS:
            raise ChoiceError(f"--channels: no channel {name!r} ({can})")
    return list(dict.fromkeys(names))


def missing_extra(channels: list[str]) -> str | None:
    for channel in channels:
        for module, package in NEEDS.get(channel, {}).items():
            try:
                found = importlib.util.find_spec(module) is not None
            except (ModuleNotFoundError, ValueError):  # its parent package is missing
                found = False
            if not found:
                return f"the {channel} channel needs {package}, which is not installed: pip install 'tidings[{channel}]'"
    return None


def demo_command(events: int, as_json: bool, settings: Settings, channels_text: str = "webhook") -> int:
    if events < 1:
        print("tidings demo: --events must be at least 1", file=sys.stderr)
        return 2
    try:
        channels = chosen_channels(channels_text)
    except ChoiceError as exc:
        print(f"tidings demo: {exc}", file=sys.stderr)
        return 2
    if missing := missing_extra(channels):  # before anything is started
        print(f"tidings demo: {missing}", file=sys.stderr)
        return 2
    console = Console(stderr=as_json, quiet=as_json)
    workdir = Path(tempfile.mkdtemp(prefix="tidings-demo-"))
    broker = postgres = None
    children: list[subprocess.Popen] = []
    fakes = DemoFakes().start()
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
                                    # the demo's fakes are on loopback, which SSRF protection refuses
                                    webhook_allowed_targets=",".join(filter(None, [
                                        settings.section(WebhookSettings).webhook_allowed_targets, "127.0.0.1"])))
        create_topics(admin_client(settings.kafka_common()), Topics(settings.topic_prefix).all(all_tier_names(settings)), settings.partitions)
        migrate(settings.database_url)
        services = [["run", "router"], *(["run", "channel", channel] for channel in channels), ["run", "sink"]]
        children = start_services(settings, workdir, services, **fakes.environment(channels, workdir))
        console.print(f"starting router, {', '.join(channels)} channel{'s' if len(channels) > 1 else ''} and sink...")
        wait_until_consuming(children)
        summary = asyncio.run(publish_and_wait(events, channels, fakes, settings, console, children))
    except KeyboardInterrupt:
        console.print("interrupted; stopping everything the demo started")
        return 130
    finally:
        stop_processes(children)
        fakes.stop()
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
            if key != "channels":
                table.add_row(key, str(value))
        console.print(table)
        by_channel = Table("channel", "published", "delivered", "failed", "received", title="per channel")
        for channel, row in summary["channels"].items():
            by_channel.add_row(channel, *(str(row[key]) for key in ("published", "delivered", "failed", "received")))
        console.print(by_channel)
    return 0 if summary["complete"] else 1


def demo_notification(index: int, channel: str, address: str) -> dict:
    created_at = utcnow()
    notification_id = str(new_id(created_at))
    return {
        "id": notification_id,
        "created_at": created_at,
        "priority": PRIORITIES[index % len(PRIORITIES)].upper(),
        "source": "demo",
        "tenant": "demo",
        "category": "demo",
        "channels": [channel],
        # one recipient per notification: the default rate limit (100 per recipient per hour) never bites
        "recipient": {"id": f"user-{index}", "email": None, "phone": None, "slack": None, "webhook_url": None,
                      "locale": None, "addresses": {channel: address}},
        "content": {channel: {"template": None, "subject": f"Demo {index}", "text": text_of(notification_id, index),
                              "html": None}},
        "data": json.dumps({"index": index}),
        "expires_at": None,
        "idempotency_key": None,
    }


async def publish_and_wait(events: int, channels: list[str], fakes: DemoFakes, settings: Settings,
                           console: Console, children: list[subprocess.Popen]) -> dict:
    codec = Codec.from_settings(settings)
    names = Topics(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    try:
        # Each notification goes to one channel, in turn: every channel gets its share of the N.
        notifications = [demo_notification(i, channel, fakes.address(channel, i))
                         for i in range(events) for channel in [channels[i % len(channels)]]]
        started = time.monotonic()
        await asyncio.gather(*(
            publisher.publish(names.events(lane(n["priority"])), codec.encode(NOTIFICATION, n),
                              key=n["recipient"]["id"]) for n in notifications))
        ids = [n["id"] for n in notifications]
        counts = await wait_for_final(settings.database_url, ids, events, console, children,
                                      deadline=time.monotonic() + 120 + events / 50)
        elapsed = time.monotonic() - started
        by_channel = await statuses_by_channel(settings.database_url, ids)
    finally:
        publisher.close()
    final = sum(counts.get(status, 0) for status in FINAL_STATUSES)
    received = fakes.counts()
    return {
        "published": events,
        "delivered": counts.get("sent", 0),
        "failed": final - counts.get("sent", 0),  # failed, dead-lettered, suppressed or expired
        "complete": final == events,
        "received_distinct": sum(received.values()),
        "elapsed_s": round(elapsed, 3),
        "notifications_per_s": round(events / elapsed, 1) if elapsed else None,
        "channels": {channel: {
            "published": sum(1 for n in notifications if n["channels"] == [channel]),
            "delivered": by_channel.get(channel, {}).get("sent", 0),
            "failed": sum(c for s, c in by_channel.get(channel, {}).items() if s in FINAL_STATUSES and s != "sent"),
            "received": received[channel],  # distinct notifications the channel's fake got
        } for channel in channels},
    }


async def statuses_by_channel(database_url: str, ids: list[str]) -> dict[str, dict[str, int]]:
    """channel -> status -> deliveries, from the sink's rows."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT channel, status, count(*) FROM deliveries WHERE notification_id = "
                                 "ANY(%s::uuid[]) GROUP BY channel, status", [ids])
        rows = await cur.fetchall()
    found: dict[str, dict[str, int]] = {}
    for channel, status, count in rows:
        found.setdefault(channel, {})[status] = count
    return found


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
