"""The services `tidings demo --channels` delivers to, faked on loopback: one aiohttp app, served from
a background thread, answering each service's success shape and counting the notifications it got.

A notification is recognised by the `ref <hex id>` the demo writes into its text (the webhook's by
its body's notification_id), so a redelivery is counted once. Success answers only: the demo shows
the pipeline, the tests' fakes (tests/fixtures/) show the services' refusals."""
from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from pathlib import Path

from aiohttp import web

from cli.demo_channels import DEMO_CHANNELS
from consumer.health import start_app

LOOPBACK = "127.0.0.1"
BOT_TOKEN = "123456789:demo-bot-token"
PROJECT = "demo"
_REF = re.compile(rb"ref ([0-9a-f]{32})")


def text_of(notification_id: str, index: int) -> str:
    """The text every demo notification carries: how a fake tells notifications apart."""
    return f"Hello from Tidings, notification {index} (ref {notification_id.replace('-', '')})"


class DemoFakes:
    def __init__(self) -> None:
        self.received: dict[str, set[str]] = {channel: set() for channel in DEMO_CHANNELS}
        self.requests: dict[str, int] = dict.fromkeys(DEMO_CHANNELS, 0)
        self.base = ""
        self._ids = itertools.count(1)
        self._buckets: dict[str, list[float]] = {}  # Discord webhook id -> [window ends at, posts in it]
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle: a loop of its own, so the demo's blocking steps never hold an answer up

    def start(self) -> "DemoFakes":
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            self.add_routes(app.router)
            self._runner, port = await start_app(app, LOOPBACK, 0)
            self.base = f"http://{LOOPBACK}:{port}"

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="demo-fakes", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the demo's local fakes did not start")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def counts(self) -> dict[str, int]:
        """Distinct notifications each fake received."""
        with self._lock:
            return {channel: len(ids) for channel, ids in self.received.items()}

    # -- what the demo's notifications and workers are given

    def address(self, channel: str, index: int) -> str:
        """The recipient's address on the channel's fake: one per recipient, as real ones are."""
        return {
            "webhook": f"{self.base}/webhook",
            "teams": f"{self.base}/teams/workflows/demo{index}/triggers/manual/paths/invoke"
                     "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=demo-signature",
            "discord": f"{self.base}/api/webhooks/{1_300_000_000_000_000_000 + index}/demo-webhook-token",
            "telegram": str(100_000_000 + index),
            "push": f"fcm:com.example.demo:demo-device-{index}:APA91bDemoRegistrationToken",
            "apprise": f"ntfy://{self.base.removeprefix('http://')}/demo",
            "slack": f"{self.base}/services/T0DEMO/B0DEMO/demo{index}",
        }[channel]

    def environment(self, channels: list[str], workdir: Path) -> dict[str, str]:
        """The settings that point each chosen channel at its fake. Loopback is refused by every
        channel's SSRF guard and host list unless allowed; the fakes never throttle, so no pacing."""
        settings: dict[str, str] = {}
        if "teams" in channels:
            settings |= {"teams_webhook_hosts": LOOPBACK, "teams_allowed_targets": LOOPBACK,
                         "teams_per_webhook_per_s": "0"}
        if "discord" in channels:
            settings |= {"discord_webhook_hosts": LOOPBACK, "discord_allowed_targets": LOOPBACK,
                         "discord_per_webhook_per_s": "0"}
        if "telegram" in channels:
            settings |= {"telegram_bot_token": BOT_TOKEN, "telegram_api_base": f"{self.base}/telegram",
                         "telegram_allowed_targets": LOOPBACK, "telegram_per_chat_per_s": "0", "telegram_per_s": "0"}
        if "push" in channels:
            account = workdir / "fcm-service-account.json"
            account.touch(mode=0o600)
            account.write_text(json.dumps(self.service_account()))
            settings |= {"push_fcm_service_account_file": str(account), "push_fcm_api_base": f"{self.base}/fcm",
                         "push_allowed_targets": LOOPBACK}
        if "apprise" in channels:
            settings |= {"apprise_schemes": "ntfy", "apprise_allowed_targets": LOOPBACK}
        if "slack" in channels:
            settings |= {"slack_webhook_hosts": LOOPBACK, "slack_allowed_targets": LOOPBACK,
                         "slack_per_channel_per_s": "0"}
        return {f"TIDINGS_{name.upper()}": value for name, value in settings.items()}

    def service_account(self) -> dict:
        """A throwaway Firebase service account whose token_uri is the fake's: a fresh RSA key."""
        from cryptography.hazmat.primitives import serialization  # the push extra brings it
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": PROJECT, "private_key_id": "demo", "private_key": pem,
                "client_email": f"tidings-demo@{PROJECT}.iam.gserviceaccount.com", "client_id": "1",
                "token_uri": f"{self.base}/fcm/token"}

    # -- the services' success answers

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/webhook", self._webhook)
        router.add_post("/teams/workflows/{flow}/triggers/manual/paths/invoke", self._teams)
        router.add_post("/api/webhooks/{hook}/{token}", self._discord)
        router.add_post("/telegram/bot{token}/sendMessage", self._telegram)
        router.add_post("/fcm/token", self._fcm_token)
        router.add_post("/fcm/v1/projects/{project}/messages:send", self._fcm_send)
        router.add_post("/", self._ntfy)  # Apprise publishes ntfy's JSON form to the server's root
        router.add_post("/services/{path:.+}", self._slack)

    def _count(self, channel: str, refs: set[str]) -> int:
        with self._lock:
            self.requests[channel] += 1
            self.received[channel] |= refs
            return next(self._ids)

    async def _take(self, channel: str, request: web.Request) -> int:
        raw = await request.read()
        return self._count(channel, {ref.decode() for ref in _REF.findall(raw)})

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._count("webhook", {str(body["notification_id"]).replace("-", "")})
        return web.json_response({"ok": True})

    async def _teams(self, request: web.Request) -> web.Response:
        await self._take("teams", request)
        return web.Response(status=202)  # Workflows: the flow took the message

    async def _discord(self, request: web.Request) -> web.Response:
        number = await self._take("discord", request)
        hook = request.match_info["hook"]
        with self._lock:  # Discord's per-webhook bucket: 5 posts per 2 s, stated on every answer
            now = time.monotonic()
            bucket = self._buckets.setdefault(hook, [now + 2.0, 0])
            if now >= bucket[0]:
                bucket[:] = [now + 2.0, 0]
            bucket[1] += 1
            remaining, reset_after = max(0, 5 - int(bucket[1])), bucket[0] - now
        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                   "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": "demo0bucket"}
        if request.query.get("wait") != "true":
            return web.Response(status=204, headers=headers)
        return web.json_response({"id": str(1_400_000_000_000_000_000 + number), "type": 0, "channel_id": "1",
                                  "webhook_id": hook, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                                                  time.gmtime())}, headers=headers)

    async def _telegram(self, request: web.Request) -> web.Response:
        number = await self._take("telegram", request)
        chat = (await request.json()).get("chat_id")
        return web.json_response({"ok": True, "result": {"message_id": number, "date": int(time.time()),
                                                         "chat": {"id": chat, "type": "private"}}})

    async def _fcm_token(self, request: web.Request) -> web.Response:
        await request.post()  # google-auth's JWT-bearer grant; the demo's fake takes it as it comes
        return web.json_response({"access_token": f"ya29.demo-{next(self._ids)}", "expires_in": 3600,
                                  "token_type": "Bearer"})

    async def _fcm_send(self, request: web.Request) -> web.Response:
        number = await self._take("push", request)
        return web.json_response({"name": f"projects/{request.match_info['project']}/messages/{number}"})

    async def _ntfy(self, request: web.Request) -> web.Response:
        number = await self._take("apprise", request)
        topic = (await request.json()).get("topic")
        return web.json_response({"id": f"demo{number:08d}", "time": int(time.time()), "event": "message",
                                  "topic": topic})

    async def _slack(self, request: web.Request) -> web.Response:
        await self._take("slack", request)
        return web.Response(text="ok", content_type="text/html")
