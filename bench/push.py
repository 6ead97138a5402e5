"""Push deliveries/s to a local FCM receiver: the Tidings push provider (device parsing, options,
the FCM message, a cached OAuth2 access token, the outbound HTTP kit) beside the ceiling of a raw
aiohttp blast of the same bodies with a bearer token at the same receiver, in one run.

  python -m bench.push [--messages 2000] [--concurrency 20]

The receiver runs in a child process so that it does not share the client's event loop or GIL. It
is leaner than tests/fixtures/push.py's FakeFcm (no message checks): Google's token endpoint, which
mints one access token, and `messages:send`, which answers FCM's success shape to that token."""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import subprocess
import sys
import time
import uuid

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.webhooks import bounded
from channels.push.device import parse_device
from channels.push.fcm_message import fcm_message
from channels.push.options import PushOptions
from channels.push.provider import PushProvider
from cli.embedded import free_port
from consumer.channel_options import read_options
from consumer.settings import Settings

PROJECT, APP = "tidings-bench", "com.example.app"

RECEIVER = """
import itertools, secrets, sys
from aiohttp import web
TOKEN = "ya29." + secrets.token_urlsafe(40)
ids = itertools.count(1)
async def token(request):
    await request.post()
    return web.json_response({"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})
async def send(request):
    await request.read()
    if request.headers.get("Authorization") != "Bearer " + TOKEN:
        return web.json_response({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401)
    return web.json_response({"name": f"projects/{request.match_info['project']}/messages/0:{next(ids)}"})
app = web.Application()
app.router.add_post("/token", token)
app.router.add_post("/v1/projects/{project}/messages:send", send)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def message(i: int) -> dict:
    token = f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"  # a registration token's shape
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "push",
            "priority": "NORMAL", "address": f"fcm:{APP}:{token}", "subject": f"Order {i} shipped",
            "text": "It arrives tomorrow.", "expires_at": None, "attempt": 1,
            "options": json.dumps({"data": {"order": str(i)}, "collapse_key": "orders"})}


def push_settings(base: str) -> Settings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    account = {"type": "service_account", "project_id": PROJECT, "private_key_id": "bench", "private_key": key,
               "client_email": f"push@{PROJECT}.iam.gserviceaccount.com", "client_id": "1",
               "token_uri": f"{base}/token"}
    return Settings(push_fcm_service_account=json.dumps(account), push_fcm_api_base=base,
                    push_allowed_targets="127.0.0.0/8")


async def tidings(settings: Settings, messages: list[dict], concurrency: int, warmup: list[dict]) -> float:
    """The provider as the channel worker drives it; the warm-up mints the run's one access token
    and opens the connections, outside the timing."""
    provider = PushProvider(settings)
    await provider.start()
    outcomes = []

    async def send(m: dict) -> None:
        outcomes.append(await provider.send(m))

    try:
        await bounded(concurrency, [lambda m=m: send(m) for m in warmup])
        started = time.perf_counter()
        await bounded(concurrency, [lambda m=m: send(m) for m in messages])
        elapsed = time.perf_counter() - started
    finally:
        await provider.close()
    failed = [o for o in outcomes if type(o).__name__ != "Delivered"]
    if failed:
        raise RuntimeError(f"{len(failed)} Tidings sends failed: {failed[:3]}")
    return len(messages) / elapsed


def bodies(messages: list[dict]) -> list[bytes]:
    """The JSON bodies the provider sends for these messages, built ahead (the raw side's ceiling)."""
    now = time.time()
    return [json.dumps({"message": fcm_message(parse_device(m["address"]), m, read_options(PushOptions, m["options"]),
                                               now)}, separators=(",", ":"), ensure_ascii=False).encode()
            for m in messages]


async def raw(base: str, payloads: list[bytes], concurrency: int, warmup: list[bytes]) -> float:
    """The ceiling: the same bodies POSTed with a bearer token, `concurrency` at a time."""
    url = f"{base}/v1/projects/{PROJECT}/messages:send"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async with session.post(f"{base}/token", data={"grant_type": "bench"}) as r:
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=UTF-8"}

        async def post(body: bytes) -> None:
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status

        await bounded(concurrency, [lambda b=b: post(b) for b in warmup])
        started = time.perf_counter()
        await bounded(concurrency, [lambda b=b: post(b) for b in payloads])
        return len(payloads) / (time.perf_counter() - started)


def measure(messages: int = 2000, concurrency: int = 20) -> dict:
    """Both rates against one receiver process, the provider first."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        for _ in range(200):  # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        settings = push_settings(base)
        batch, warmup = [message(i) for i in range(messages)], [message(-i) for i in range(concurrency)]
        provider = asyncio.run(tidings(settings, batch, concurrency, warmup))
        ceiling = asyncio.run(raw(base, bodies(batch), concurrency, bodies(warmup)))
    finally:
        receiver.terminate()
        receiver.wait(5)
    return {"messages": messages, "concurrency": concurrency,
            "provider_deliveries_per_s": round(provider, 1), "raw_http_deliveries_per_s": round(ceiling, 1),
            "provider_share_of_raw": round(provider / ceiling, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(measure(args.messages, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
