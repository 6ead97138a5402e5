"""The in-app inbox, measured from outside: the gateway as a process (`tidings run gateway`) over a
recipient with 10,000 items, feed pages read per second (the first page and a deep cursor page)
beside the same query run straight on Postgres, and live streams: 1,000 clients connected over
Server-Sent Events (100 recipients, 10 streams each), notifications published to Kafka and carried
by the router and the inapp worker, and the publish-to-client latency at every client.

  python -m bench.inbox [--items 10000] [--reads 2000] [--clients 1000] [--notifications 60]"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
import jwt
import psycopg

from bench.testbed import Testbed, http_ok, wait_for
from channels.inapp.inbox import Inbox, Reader
from cli.embedded import free_port
from cli.processes import start_services
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane, utcnow
from consumer.publisher import Publisher
from consumer.topics import Topics

KEY = "bench-inbox-key-with-at-least-32-bytes!!"
READER = Reader("acme", "reader")
CONCURRENCY = 10


def token(recipient: str) -> str:
    return jwt.encode({"sub": recipient, "tenant": "acme", "exp": datetime.now(timezone.utc) + timedelta(hours=1)},
                      KEY, algorithm="HS256")


def fill(database_url: str, items: int) -> int:
    """`items` items for the reader; the seq of the oldest page's cursor (a deep page)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO inbox_items (delivery_id, notification_id, tenant, recipient_id, title, body, category, "
            "priority, source, created_at, read_at) SELECT gen_random_uuid(), gen_random_uuid(), %s, %s, "
            "'Order ' || i || ' shipped', 'It is on its way: tracking number ' || i, 'orders', 'NORMAL', 'bench', "
            "now(), CASE WHEN i %% 3 = 0 THEN NULL ELSE now() END FROM generate_series(1, %s) AS i",
            [READER.tenant, READER.recipient_id, items])
        conn.execute("ANALYZE inbox_items")
        return conn.execute("SELECT min(seq) + 40 FROM inbox_items").fetchone()[0]


async def feed_reads(base: str, path: str, reads: int) -> float:
    headers = {"Authorization": f"Bearer {token(READER.recipient_id)}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def one() -> None:
            async with http.get(base + path) as answer:
                assert answer.status == 200, await answer.text()
                await answer.read()
        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))  # warm up
        left = reads

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await one()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return reads / (time.perf_counter() - started)


async def query_ceiling(database_url: str, reads: int, cursor: int | None) -> float:
    """The feed's own query straight on Postgres, CONCURRENCY connections."""
    connections = [await psycopg.AsyncConnection.connect(database_url, autocommit=True) for _ in range(CONCURRENCY)]
    left = reads

    async def worker(conn) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await Inbox(conn).page(READER, 20, cursor)
    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    took = time.perf_counter() - started
    for conn in connections:
        await conn.close()
    return reads / took


async def live_latency(base: str, settings, clients: int, notifications: int) -> dict:
    """Connect `clients` streams, publish notifications to random recipients, and time each item
    from its publish to its arrival at each of the recipient's streams."""
    recipients = [f"live-{i}" for i in range(max(1, clients // 10))]
    published: dict[str, float] = {}
    arrivals: list[float] = []
    connected = asyncio.Event()
    open_streams = 0
    expected = 0

    async def client(http: aiohttp.ClientSession, recipient: str) -> None:
        nonlocal open_streams
        async with http.get(base + "/v1/inbox/stream", headers={"Authorization": f"Bearer {token(recipient)}"},
                            timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as answer:
            assert answer.status == 200, await answer.text()
            open_streams += 1
            if open_streams == clients:
                connected.set()
            kind = None
            async for line in answer.content:
                text = line.decode().rstrip("\r\n")
                if text.startswith("event: "):
                    kind = text[7:]
                elif text.startswith("data: ") and kind == "item":
                    title = json.loads(text[6:])["title"]
                    if title in published:
                        arrivals.append(time.time() - published[title])

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = [asyncio.create_task(client(http, recipients[i % len(recipients)])) for i in range(clients)]
        await asyncio.wait_for(connected.wait(), 120)
        codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
        publisher = Publisher.from_settings(settings)
        per_recipient = clients // len(recipients)
        for n in range(notifications):
            recipient = random.choice(recipients)
            event = notification(n, recipient)
            published[event["content"]["default"]["subject"]] = time.time()
            await publisher.publish(names.events(lane(event["priority"])), codec.encode(NOTIFICATION, event),
                                    key=recipient)
            expected += per_recipient
            await asyncio.sleep(0.1)  # a steady trickle, not a burst: the latency of one arrival
        deadline = time.monotonic() + 60
        while len(arrivals) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        publisher.close(10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    arrivals.sort()
    return {"live_clients": clients, "live_notifications": notifications, "live_arrivals": len(arrivals),
            "live_expected_arrivals": expected,
            "publish_to_client_p50_s": round(statistics.median(arrivals), 3),
            "publish_to_client_p99_s": round(arrivals[min(len(arrivals) - 1, int(len(arrivals) * 0.99))], 3)}


def notification(n: int, recipient: str) -> dict:
    return {"id": str(uuid.uuid4()), "created_at": utcnow(), "priority": "HIGH", "source": "bench",
            "tenant": "acme", "category": "orders", "channels": ["inapp"],
            "recipient": {"id": recipient, "addresses": {}, "email": None, "phone": None, "slack": None,
                          "webhook_url": None, "locale": None},
            "content": {"default": {"template": None, "subject": f"live {n}", "text": "hello", "html": None,
                                    "options": "{}"}},
            "data": "{}", "expires_at": None, "idempotency_key": None}


def measure(items: int = 10000, reads: int = 2000, clients: int = 1000, notifications: int = 60) -> dict:
    with Testbed() as bed:
        settings = bed.settings("inbox", database=True)
        deep = fill(settings.database_url, items)
        bed.start_services(settings, (["run", "router"], ["run", "channel", "inapp"]))
        port = free_port()
        [gateway] = start_services(settings, bed.workdir, (["run", "gateway"],), TIDINGS_GATEWAY_HOST="127.0.0.1",
                                   TIDINGS_GATEWAY_PORT=str(port), TIDINGS_INAPP_TENANT_KEYS=json.dumps({"acme": KEY}),
                                   TIDINGS_INAPP_STREAM_MAX_TOTAL=str(clients + 100))
        bed._children.append(gateway)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(base + "/healthz"), "the gateway", timeout=60, children=[gateway])
        first = asyncio.run(feed_reads(base, "/v1/inbox/items?limit=20", reads))
        deep_page = asyncio.run(feed_reads(base, f"/v1/inbox/items?limit=20&cursor={deep}", reads))
        first_sql = asyncio.run(query_ceiling(settings.database_url, reads, None))
        deep_sql = asyncio.run(query_ceiling(settings.database_url, reads, deep))
        live = asyncio.run(live_latency(base, settings, clients, notifications))
    return {"items": items, "reads": reads, "first_page_reads_per_s": round(first, 1),
            "first_page_query_reads_per_s": round(first_sql, 1), "deep_page_reads_per_s": round(deep_page, 1),
            "deep_page_query_reads_per_s": round(deep_sql, 1), **live}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--notifications", type=int, default=60)
    args = parser.parse_args()
    print(json.dumps(measure(args.items, args.reads, args.clients, args.notifications), indent=2))


if __name__ == "__main__":
    sys.exit(main())
