"""The HTTP side of every service: GET /metrics (Prometheus text format) and GET /healthz
(200 while healthy, 503 otherwise, with a JSON body saying why)."""
from __future__ import annotations

from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consumer.metrics import ServiceMetrics

HealthCheck = Callable[[], tuple[bool, dict]]


async def serve(metrics: ServiceMetrics, health: HealthCheck, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start the server; returns the runner (to clean up) and the bound port (port 0 picks one)."""

    async def get_metrics(_request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def get_health(_request: web.Request) -> web.Response:
        ok, detail = health()
        return web.json_response({"status": "ok" if ok else "unhealthy", **detail}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", get_health)
    return await start_app(app, host, port)


async def start_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve an aiohttp app; returns the runner and the bound port (port 0 picks a free one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # aiohttp has no public accessor
