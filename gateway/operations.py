"""GET /healthz (the process answers), /readyz (the broker and Postgres are reachable) and
/metrics (Prometheus), unauthenticated like every Tidings service's."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", name="healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", name="readyz", responses={503: {"description": "the broker or Postgres is unreachable"}})
async def readyz(request: Request) -> JSONResponse:
    gateway = request.app.state.gateway
    broker, postgres = await asyncio.gather(_broker(gateway), _postgres(gateway))
    ready = broker == "ok" and postgres == "ok"
    return JSONResponse({"status": "ready" if ready else "not ready", "broker": broker, "postgres": postgres},
                        status_code=200 if ready else 503)


async def _broker(gateway) -> str:
    topic = gateway.topics.events("normal")
    try:
        metadata = await asyncio.to_thread(gateway.admin.list_topics, topic, 3)
    except Exception as exc:  # KafkaException and timeouts alike: not ready, say why
        return f"unreachable: {exc}"
    found = metadata.topics.get(topic)
    return "ok" if found is not None and found.error is None else f"topic {topic} missing"


async def _postgres(gateway) -> str:
    try:
        async with asyncio.timeout(3):
            async with gateway.pool.connection() as conn:
                await conn.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # OperationalError, pool timeout: not ready, say why
        return f"unreachable: {type(exc).__name__}: {exc}"


@router.get("/metrics", name="metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.gateway.metrics.registry),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
