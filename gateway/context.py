"""What every route needs, built once per process: settings, the producer, the Postgres pool, the
codec, the token verifier, rate limits, metrics and the clock (injected, so tests set the time);
and the background work of a running gateway: housekeeping and the receipt matcher."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from confluent_kafka.admin import AdminClient
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from consumer.codec import Codec
from consumer.events import Clock, utcnow
from consumer.publisher import Publisher
from consumer.settings import Settings, SettingsError
from consumer.topics import Topics
from gateway.alert_routes import AlertRoutes
from gateway.auth import TokenVerifier
from gateway.housekeeping import prune_forever
from gateway.metrics import GatewayMetrics
from gateway.rate_limits import RateLimits, parse_rate
from gateway.receipt_sources.sns_signature import SnsVerifier
from gateway.receipts import match_forever
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Gateway:
    settings: Settings
    clock: Clock = utcnow
    topics: Topics = field(init=False)
    verifier: TokenVerifier = field(init=False)
    limits: RateLimits = field(init=False)
    receipt_limits: RateLimits = field(init=False)  # per receipt source, not per principal
    alert_routes: AlertRoutes = field(init=False)
    metrics: GatewayMetrics = field(init=False)
    sns: SnsVerifier = field(init=False)  # SNS message signatures, with the certificates it fetched
    codec: Codec | None = None
    publisher: Publisher | None = None
    pool: AsyncConnectionPool | None = None
    admin: AdminClient | None = None
    # The template store, recipient directory and preferences are synchronous psycopg classes.
    blocking_pool: ConnectionPool | None = None

    def __post_init__(self) -> None:
        """Parse every setting now, so a bad one stops the process at start with its name."""
        if not self.settings.database_url:
            raise SettingsError("the gateway needs TIDINGS_DATABASE_URL (audit log, idempotency, rate limits)")
        for name in ("gateway_jwt_secret", "gateway_unsubscribe_secret"):
            secret = getattr(self.settings.section(GatewaySettings), name)
            if secret is not None and len(secret.get_secret_value().encode()) < 32:  # RFC 7518: at least the HMAC's size
                raise SettingsError(f"TIDINGS_{name.upper()}: use at least 32 bytes (a random string)")
        self.topics = Topics(self.settings.topic_prefix)
        self.verifier = TokenVerifier(self.settings)
        self.limits = RateLimits.from_settings(self.settings)
        self.receipt_limits = RateLimits(parse_rate(self.settings.section(GatewaySettings).gateway_receipt_rate_limit,
                                                    "TIDINGS_GATEWAY_RECEIPT_RATE_LIMIT"), {})
        self.alert_routes = AlertRoutes.from_settings(self.settings)
        self.metrics = GatewayMetrics()
        self.sns = SnsVerifier.from_settings(self.settings, self.clock)

    @asynccontextmanager
    async def running(self) -> Any:
        """Open the producer and the pool for the life of the server; flush and close after."""
        from tracking.migrate import migrate

        await asyncio.to_thread(migrate, self.settings.database_url)
        self.codec = Codec.from_settings(self.settings)
        self.publisher = Publisher.from_settings(self.settings)
        self.admin = AdminClient(self.settings.kafka_common())
        self.pool = AsyncConnectionPool(self.settings.database_url, min_size=1, max_size=10, open=False,
                                        kwargs={"autocommit": True})
        await self.pool.open()
        self.blocking_pool = ConnectionPool(self.settings.database_url, min_size=1, max_size=4, open=False,
                                            kwargs={"autocommit": True})
        await asyncio.to_thread(self.blocking_pool.open)
        if not (self.settings.section(GatewaySettings).gateway_jwt_secret or self.settings.section(GatewaySettings).gateway_jwks_url or self.verifier.static):
            log.warning("no JWT secret, JWKS URL or static token is configured: every call will be refused (401)")
        if self.verifier.default_tenants is None:
            log.info("tokens without a tenants claim act for every tenant (TIDINGS_GATEWAY_DEFAULT_TENANTS=*)")
        housekeeping = asyncio.create_task(prune_forever(self))
        matching = asyncio.create_task(match_forever(self))  # receipts that came before their `sent`
        try:
            yield self
        finally:
            housekeeping.cancel()
            matching.cancel()
            await asyncio.gather(housekeeping, matching, return_exceptions=True)
            remaining = await asyncio.to_thread(self.publisher.close, 10.0)
            if remaining:
                log.error("%d notifications not acknowledged at shutdown", remaining)
            self.publisher = self.admin = None  # let librdkafka's clients go
            await self.pool.close()
            await asyncio.to_thread(self.blocking_pool.close)

    async def blocking(self, work: Callable[[Any], T]) -> T:
        """Run `work(connection)` on a worker thread with a synchronous connection."""
        def run() -> T:
            with self.blocking_pool.connection() as conn:
                return work(conn)
        return await asyncio.to_thread(run)
