"""HTTP gateway throughput: notifications/s accepted (each answered only after the broker's
acknowledgement) by one `tidings run gateway` process, one at a time per request and in batches,
with and without an Idempotency-Key, beside the ceiling of the same events published straight to
Kafka from this process; plus request latency percentiles.

  python -m bench.gateway [--requests 2000] [--concurrency 20] [--batch 100]"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import httpx
import jwt

from bench.testbed import Testbed
from cli.embedded import free_port
from consumer.codec import Codec
from consumer.events import NOTIFICATION, lane
from consumer.notification_json import notification_from_json
from consumer.publisher import Publisher
from consumer.topics import Topics

SECRET = "bench-secret-0123456789abcdef0123456789"


def body(i: int) -> dict:
    return {"channels": ["webhook"], "priority": ("urgent", "high", "normal", "low")[i % 4],
            "recipient": {"id": f"bench-{i}", "webhook_url": "https://hooks.example.com/x"},
            "content": {"default": {"subject": f"n{i}", "text": "hello"}}, "data": {"i": i}}


def start_gateway(bed: Testbed, settings) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TIDINGS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "TIDINGS_TOPIC_PREFIX": settings.topic_prefix, "TIDINGS_DATABASE_URL": settings.database_url,
           "TIDINGS_GATEWAY_HOST": "127.0.0.1", "TIDINGS_GATEWAY_PORT": str(port),
           "TIDINGS_GATEWAY_JWT_SECRET": SECRET, "TIDINGS_GATEWAY_RATE_LIMIT": "100000000/h",
           "TIDINGS_LOG_LEVEL": "WARNING"}
    log = open(bed.workdir / "gateway.log", "wb")
    child = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "gateway"], env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return child, base
        except httpx.TransportError:
            pass
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the gateway did not become ready; see {bed.workdir / 'gateway.log'}")
        time.sleep(0.2)


async def blast(base: str, token: str, requests: int, concurrency: int, batch: int, idempotent: bool) -> dict:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=120,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        async def one(r: int) -> None:
            payload = body(r) if batch == 1 else [body(r * batch + j) for j in range(batch)]
            extra = {"Idempotency-Key": uuid.uuid4().hex} if idempotent else {}
            async with gate:
                started = time.perf_counter()
                response = await client.post("/v1/notifications", json=payload, headers={**headers, **extra})
                latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        started = time.perf_counter()
        await asyncio.gather(*(one(r) for r in range(requests)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests_per_s": round(requests / elapsed, 1), "notifications_per_s": round(requests * batch / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)}


async def kafka_ceiling(settings, count: int) -> float:
    """Notifications/s validated, encoded and acknowledged, published from this process."""
    codec, topics, publisher = Codec.from_settings(settings), Topics(settings.topic_prefix), Publisher.from_settings(settings)
    started = time.perf_counter()
    records = [notification_from_json({**body(i), "source": "bench"}) for i in range(count)]
    await asyncio.gather(*(publisher.publish(topics.events(lane(r["priority"])), codec.encode(NOTIFICATION, r),
                                             key=r["recipient"]["id"]) for r in records))
    elapsed = time.perf_counter() - started
    publisher.close()
    return round(count / elapsed, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600, "scope": "send:webhook", "tenants": "*"},
                       SECRET, "HS256")
    results = {}
    with Testbed() as bed:
        settings = bed.settings("gateway", database=True)
        child, base = start_gateway(bed, settings)
        try:
            asyncio.run(blast(base, token, 50, args.concurrency, 1, False))  # warm up
            results["single"] = asyncio.run(blast(base, token, args.requests, args.concurrency, 1, False))
            results["single_idempotency_key"] = asyncio.run(blast(base, token, args.requests, args.concurrency, 1, True))
            batches = max(1, args.requests // args.batch * 2)
            results[f"batch_{args.batch}"] = asyncio.run(blast(base, token, batches, min(args.concurrency, 4),
                                                              args.batch, False))
        finally:
            child.terminate()
            child.wait(30)
        results["kafka_ceiling_notifications_per_s"] = asyncio.run(kafka_ceiling(settings, args.requests * 5))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
