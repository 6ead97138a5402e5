"""Rate limits per principal and channel (default 100 per hour), kept in Postgres so every gateway
process shares them. GCRA: one timestamp per (principal, channel), updated by one atomic UPSERT."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from consumer.durations import parse_rate as parse_count_per_period
from consumer.settings import Settings, SettingsError
from consumer.channel_specs import channel_names
from gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: float

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.period_s / self.count)


def parse_rate(text: str, setting: str = "TIDINGS_GATEWAY_RATE_LIMIT") -> Rate:
    """"100/h", "10/m", "5000/d", "20/30s" (consumer/durations.py); at least 1 per period."""
    count, period_s = parse_count_per_period(text, setting)
    if count < 1:
        raise SettingsError(f"{setting}: {text!r}: a rate lets at least 1 through per period")
    return Rate(count, period_s)


@dataclass(frozen=True)
class RateLimits:
    default: Rate
    per_channel: dict[str, Rate]

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimits":
        per_channel = {}
        for entry in (e for e in (settings.section(GatewaySettings).gateway_rate_limits or "").split(",") if e.strip()):
            channel, _, rate = entry.partition("=")
            if channel.strip() not in channel_names():
                raise SettingsError(f"TIDINGS_GATEWAY_RATE_LIMITS: {channel.strip()!r} is not a channel")
            per_channel[channel.strip()] = parse_rate(rate, "TIDINGS_GATEWAY_RATE_LIMITS")
        return cls(parse_rate(settings.section(GatewaySettings).gateway_rate_limit), per_channel)

    def of(self, channel: str) -> Rate:
        return self.per_channel.get(channel, self.default)


class RateLimited(Exception):
    def __init__(self, channel: str, rate: Rate, retry_after_s: int):
        super().__init__(f"rate limit for {channel} exceeded ({rate.count} per {rate.period_s:g}s); "
                         f"retry after {retry_after_s}s")
        self.channel, self.retry_after_s = channel, retry_after_s


_TAKE = """
INSERT INTO gateway_rate_limits AS r (principal, channel, tat) VALUES (%(who)s, %(channel)s, %(now)s + %(cost)s)
ON CONFLICT (principal, channel) DO UPDATE SET tat = greatest(r.tat, %(now)s) + %(cost)s
    WHERE greatest(r.tat, %(now)s) + %(cost)s - %(now)s <= %(period)s
RETURNING tat
"""


async def take(conn: psycopg.AsyncConnection, limits: RateLimits, principal: str, costs: dict[str, int],
               now: datetime) -> None:
    """Use `costs[channel]` of each channel's allowance, all or none; raises RateLimited."""
    if len(costs) == 1:  # one statement is atomic on its own: no transaction round trips
        return await _take_one(conn, limits, principal, *next(iter(costs.items())), now)
    async with conn.transaction():
        for channel, count in sorted(costs.items()):
            await _take_one(conn, limits, principal, channel, count, now)


async def _take_one(conn, limits: RateLimits, principal: str, channel: str, count: int, now: datetime) -> None:
    rate = limits.of(channel)
    period = timedelta(seconds=rate.period_s)
    if count > rate.count:
        raise RateLimited(channel, rate, math.ceil(rate.period_s))
    cost = rate.interval * count
    params = {"who": principal, "channel": channel, "now": now, "cost": cost, "period": period}
    if (await (await conn.execute(_TAKE, params)).fetchone()) is None:
        cur = await conn.execute("SELECT tat FROM gateway_rate_limits WHERE principal = %s AND channel = %s",
                                 [principal, channel])
        tat = (await cur.fetchone())[0]
        wait = (max(tat, now) + cost - period - now).total_seconds()
        raise RateLimited(channel, rate, max(1, math.ceil(wait)))
