"""The gateway under test: the real app on uvicorn on a loopback port, in a background thread, with
a real broker and a fresh Postgres (tests/fixtures), a settable clock, and tokens signed here
(acting for every tenant unless a test says otherwise)."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pytest

from consumer.settings import Settings
from gateway.app import create_app
from tests.gateway.inbox import TENANT_KEYS
from tests.pipeline import publish

SECRET = "test-secret-with-enough-bytes-for-hs256"
ISSUER = "https://issuer.test"
AUDIENCE = "tidings"
ALERTMANAGER_TOKEN = "alertmanager-static-token-0123456789"
ALL_SCOPES = ["send:email", "send:sms", "send:slack", "send:webhook", "read", "admin:templates",
              "admin:preferences", "admin:dlq", "admin:suppressions"]
ROUTES = [
    {"match": {"team": "db"}, "channels": ["slack"], "recipient": {"id": "db-oncall", "slack": "C0DB"}},
    {"match": {}, "channels": ["email"], "recipient": {"id": "ops", "email": "ops@example.com"}},
]


class Clock:
    """The gateway's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RunningGateway:
    def __init__(self, settings: Settings, clock: Clock):
        import uvicorn

        self.settings, self.clock = settings, clock
        self.app = create_app(settings, clock)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, lifespan="on",
                                                    log_config=None, access_log=False))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.base, timeout=90)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    @property
    def metrics(self):
        return self.app.state.gateway.metrics

    def run(self, work, timeout: float = 60):
        """`await work(gateway)` on the server's own event loop (its pool and producer live there)."""
        return asyncio.run_coroutine_threadsafe(work(self.app.state.gateway), self.loop).result(timeout)

    def request(self, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, path, headers=headers, **kwargs)

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(30)


def make_token(subject: str = "billing", scopes=ALL_SCOPES, *, key=SECRET, algorithm="HS256",
               headers: dict | None = None, tenants="*", **claims) -> str:
    """A signed JWT; tenants=None leaves the tenants claim out."""
    now = datetime.now(timezone.utc)
    body = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now,
            "exp": now + timedelta(minutes=10), "scope": " ".join(scopes), "tenants": tenants, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm, headers=headers)


def gateway_settings(pipeline: Settings, **overrides) -> Settings:
    return pipeline.replace(**{
        "gateway_jwt_secret": SECRET, "gateway_jwt_issuer": ISSUER, "gateway_jwt_audience": AUDIENCE,
        "gateway_jwt_leeway_s": 5.0,
        "gateway_static_tokens": json.dumps({ALERTMANAGER_TOKEN: {"subject": "alertmanager",
                                                                  "scopes": ["alertmanager"], "tenants": "*"}}),
        "gateway_rate_limit": "1000/h", "gateway_alertmanager_routes": json.dumps(ROUTES),
        "gateway_unsubscribe_secret": "unsubscribe-secret-0123456789abcdef",
        "gateway_public_url": "https://tidings.example.com", **overrides})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start_gateway(pipeline, clock):
    """start_gateway(**setting overrides) -> a running gateway, stopped after the test."""
    started: list[RunningGateway] = []

    def start(**overrides) -> RunningGateway:
        started.append(RunningGateway(gateway_settings(pipeline, **overrides), clock))
        return started[-1]

    yield start
    for running in started:
        running.close()


@pytest.fixture
def gateway(start_gateway) -> RunningGateway:
    return start_gateway()


@pytest.fixture
def inbox(services, start_gateway, pipeline):
    """(gateway, publish(notifications)): the inapp pipeline running behind a gateway with feed keys."""
    services.start_pipeline("inapp")
    gateway = start_gateway(inapp_tenant_keys=TENANT_KEYS)
    return gateway, lambda notifications: publish(pipeline, notifications)
