"""The gateway's FastAPI application: middleware (request id, metrics, audit, body cap), error
shapes, and one router per resource. Building it connects to nothing (see Gateway.running)."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from consumer.channel_specs import registry
from consumer.events import Clock, utcnow
from consumer.settings import Settings
from gateway import errors, openapi_schemas
from gateway.body_limit import BodyLimitMiddleware
from gateway.context import Gateway
from gateway.middleware import RequestContextMiddleware
from gateway.settings import GatewaySettings

DESCRIPTION = """The REST API of Tidings: publish notifications (answered 202 once the broker
acknowledged them), read their timelines and delivery statistics, manage templates, recipients,
preferences and the suppression list, list and replay dead letters, receive Alertmanager webhooks
and providers' delivery receipts, and honour one-click unsubscribes. Bearer tokens (JWT or static)
carry the caller's subject, scopes and tenants; receipts carry their provider's signature."""


def create_app(settings: Settings, clock: Clock = utcnow) -> FastAPI:
    gateway = Gateway(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        async with gateway.running():
            yield

    app = FastAPI(title="Tidings gateway", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.gateway = gateway
    errors.install(app)
    # The notification and recipient bodies' schemas come from the contract models, the batch limit too.
    openapi_schemas.install(app, settings.section(GatewaySettings).gateway_max_batch)
    from gateway import (alertmanager, dead_letters, notifications, operations, receipt_ingress, recipients, stats,
                         suppressions, templates, twilio_receipts, unsubscribe)
    for module in (notifications, stats, templates, recipients, suppressions, dead_letters, alertmanager, unsubscribe,
                   twilio_receipts, receipt_ingress, operations):
        app.include_router(module.router)
    for source, channel, statuses in (twilio_receipts.SERIES, *receipt_ingress.SERIES):  # each receipt source's series, at 0 from the start
        gateway.metrics.start_receipts(source, channel, statuses)
    for spec in registry().values():  # a channel's own API (the inbox's feed)
        if (routes := spec.load_gateway_routes()) is not None:
            app.include_router(routes)
    # The last added is the outermost: the request id and audit see the body cap's 413 too.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.section(GatewaySettings).gateway_max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
