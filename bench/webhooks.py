"""Webhook deliveries/s to a local receiver: the Tidings webhook provider (signing, bulkhead,
caps) beside the ceiling of a raw aiohttp client blast at the same receiver, and beside Apprise
(the Python library users reach for instead), in one run.

  python -m bench.webhooks [--messages 2000] [--concurrency 20]

The receiver runs in a child process so that it does not share the client's event loop."""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

import aiohttp

from channels.webhook.provider import WebhookProvider
from cli.embedded import free_port
from consumer.settings import Settings

RECEIVER = """
import sys
from aiohttp import web
async def hook(request):
    await request.read()
    return web.json_response({"ok": True})
app = web.Application()
app.router.add_route("*", "/hook", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def message(url: str, i: int) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "webhook",
            "priority": "NORMAL", "created_at": datetime.now(timezone.utc), "source": "bench", "tenant": "bench",
            "category": "bench", "recipient_id": f"user-{i}", "address": url, "subject": f"n{i}", "text": "hello",
            "html": None, "template": None, "data": json.dumps({"i": i}), "expires_at": None, "attempt": 1,
            "replay": 0, "options": "{}"}


async def bounded(concurrency: int, jobs) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(job):
        async with gate:
            await job()

    await asyncio.gather(*(one(j) for j in jobs))


async def tidings(url: str, count: int, concurrency: int, signed: bool = True) -> float:
    settings = Settings(webhook_per_endpoint_concurrency=concurrency, webhook_concurrency=concurrency,
                        webhook_allowed_targets="127.0.0.1",
                        webhook_signing_secrets="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" if signed else None)
    provider = WebhookProvider(settings)
    await provider.start()
    messages = [message(url, i) for i in range(count)]
    started = time.perf_counter()
    outcomes = []

    async def send(m=None):
        outcomes.append(await provider.send(m))

    await bounded(concurrency, [lambda m=m: send(m) for m in messages])
    elapsed = time.perf_counter() - started
    await provider.close()
    failed = [o for o in outcomes if type(o).__name__ != "Delivered"]
    if failed:
        raise RuntimeError(f"{len(failed)} Tidings sends failed: {failed[:3]}")
    return count / elapsed


async def raw(url: str, count: int, concurrency: int, body: dict | None = None) -> float:
    """The ceiling: `count` POSTs of one pre-built JSON body, `concurrency` at a time."""
    body = json.dumps(body or {"id": "x", "text": "hello", "data": {"i": 1}}).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def post():
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                await r.read()
                assert r.status == 200
        started = time.perf_counter()
        await bounded(concurrency, [post] * count)
        return count / (time.perf_counter() - started)


def apprise_rate(port: int, count: int) -> float | None:
    try:
        import apprise
    except ImportError:
        return None
    sender = apprise.Apprise()
    sender.add(f"json://127.0.0.1:{port}/hook")
    started = time.perf_counter()
    for i in range(count):
        if not sender.notify(title=f"n{i}", body="hello"):
            raise RuntimeError("Apprise reported a failed notification")
    return count / (time.perf_counter() - started)


def measure(messages: int = 2000, concurrency: int = 20) -> dict:
    """The three rates against one receiver process; Apprise sends at most 500 (it is sequential)."""
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}/hook"
    try:
        for _ in range(100):  # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        provider = asyncio.run(tidings(url, messages, concurrency))
        ceiling = asyncio.run(raw(url, messages, concurrency))
        rate = apprise_rate(port, min(messages, 500))
    finally:
        receiver.terminate()
        receiver.wait(5)
    return {"messages": messages, "concurrency": concurrency,
            "provider_deliveries_per_s": round(provider, 1), "raw_aiohttp_deliveries_per_s": round(ceiling, 1),
            "apprise_deliveries_per_s": round(rate, 1) if rate else None,  # None: apprise not installed
            "provider_share_of_raw": round(provider / ceiling, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(measure(args.messages, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
