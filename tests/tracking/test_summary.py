"""`delivery_stats` on a real Postgres: a known set of deliveries in and out of the window, and
the exact counts, breakdowns, SMS cost and latency percentiles Postgres computes from them."""
from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import uuid
from decimal import Decimal

import psycopg
import pytest

from tests.tracking.test_store import T0, event, record
from tracking.migrate import migrate
from tracking.stats import delivery_stats, delivery_stats_async

NOW = T0 + dt.timedelta(hours=1)


def sent(channel: str, latency_s: float, **fields) -> list[dict]:
    d = uuid.uuid4()
    return [event(d, "queued", channel=channel),
            event(d, "sent", seconds=latency_s, attempt=1, channel=channel, provider=fields.pop("provider", "smtp"),
                  **fields)]


@pytest.fixture
def seeded(database_url) -> str:
    migrate(database_url)
    events = []
    for latency in (1, 2, 3, 4, 10):
        events += sent("email", latency)
    events += sent("sms", 5, provider="twilio", cost=Decimal("0.0158"), cost_currency="USD")
    events += sent("sms", 7, provider="http", cost=Decimal("0.005"), cost_currency="USD")
    retried = uuid.uuid4()
    events += [event(retried, "queued", channel="webhook"),
               event(retried, "retry_scheduled", seconds=1, attempt=1, channel="webhook", retry_tier="10s"),
               event(retried, "retry_scheduled", seconds=12, attempt=2, channel="webhook", retry_tier="1m"),
               event(retried, "dead_lettered", seconds=80, attempt=3, channel="webhook", reason="retries_exhausted")]
    waiting = uuid.uuid4()
    events += [event(waiting, "queued", channel="webhook"),
               event(waiting, "retry_scheduled", seconds=1, attempt=1, channel="webhook", retry_tier="10s")]
    opted_out = uuid.uuid4()
    events += [event(opted_out, "queued", channel="sms"),
               event(opted_out, "suppressed", seconds=1, channel="sms", reason="opted_out")]
    quiet = uuid.uuid4()
    events += [event(quiet, "queued", channel="email"),
               event(quiet, "suppressed", seconds=1, channel="email", reason="quiet_hours")]
    # Created before the window: counted nowhere, although its last event is inside it.
    old = uuid.uuid4()
    events += [event(old, "queued", seconds=-7200), event(old, "sent", seconds=10, attempt=1)]
    record(database_url, events)
    return database_url


def test_totals_breakdowns_cost_and_latency(seeded):
    with psycopg.connect(seeded) as conn:
        report = delivery_stats(conn, dt.timedelta(hours=2) - dt.timedelta(seconds=1), until=NOW)
    totals = report["totals"]
    assert {k: totals[k] for k in ("total", "sent", "delivered", "failed", "dead_lettered", "suppressed", "expired",
                                    "pending")} == {
        "total": 11, "sent": 7, "delivered": 0, "failed": 1, "dead_lettered": 1, "suppressed": 2, "expired": 0,
        "pending": 1}  # `delivered` needs a receipt (tests/tracking/test_receipt_statuses.py)
    assert (totals["sent_rate"], totals["delivered_rate"]) == (round(7 / 11, 4), 0.0)
    assert totals["suppressed_by_reason"] == {"opted_out": 1, "quiet_hours": 1}
    assert totals["retries_by_tier"] == {"10s": 2, "1m": 1}
    assert totals["sms_cost"] == pytest.approx(0.0208)
    latencies = [1, 2, 3, 4, 10, 5, 7]
    assert totals["latency_avg_s"] == pytest.approx(statistics.mean(latencies), abs=1e-3)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")  # linear, as percentile_cont
    assert totals["latency_p50_s"] == pytest.approx(statistics.median(latencies), abs=1e-3)
    assert totals["latency_p95_s"] == pytest.approx(cuts[94], abs=1e-3)
    assert totals["latency_p99_s"] == pytest.approx(cuts[98], abs=1e-3)
    assert report["groups"] == []


def test_the_window_starts_at_since(seeded):
    with psycopg.connect(seeded) as conn:
        wide = delivery_stats(conn, T0 - dt.timedelta(hours=3), until=NOW)
        empty = delivery_stats(conn, NOW, until=NOW + dt.timedelta(hours=1))
    assert wide["totals"]["total"] == 12 and wide["totals"]["sent"] == 8
    assert empty["totals"]["total"] == 0 and empty["totals"]["latency_p50_s"] is None


def test_grouped_by_channel_and_status(seeded):
    with psycopg.connect(seeded) as conn:
        report = delivery_stats(conn, T0, by=["channel", "status"], until=NOW)
    groups = {(g["channel"], g["status"]): g for g in report["groups"]}
    assert set(groups) == {("email", "sent"), ("email", "suppressed"), ("sms", "sent"), ("sms", "suppressed"),
                           ("webhook", "dead_lettered"), ("webhook", "retry_scheduled")}
    assert groups[("email", "sent")]["total"] == 5
    assert groups[("email", "sent")]["latency_p50_s"] == pytest.approx(3)
    assert groups[("sms", "sent")]["sms_cost"] == pytest.approx(0.0208)
    assert groups[("webhook", "dead_lettered")]["retries_by_tier"] == {"10s": 1, "1m": 1}
    assert groups[("webhook", "retry_scheduled")]["pending"] == 1
    assert groups[("sms", "suppressed")]["suppressed_by_reason"] == {"opted_out": 1}
    assert report["totals"]["total"] == sum(g["total"] for g in report["groups"]) == 11


def test_grouped_by_provider_keeps_null_apart_from_the_total(seeded):
    with psycopg.connect(seeded) as conn:
        report = delivery_stats(conn, T0, by=["provider"], until=NOW)
    by_provider = {g["provider"]: g["total"] for g in report["groups"]}
    assert by_provider == {"smtp": 5, "twilio": 1, "http": 1, None: 4}
    assert report["totals"]["total"] == 11


def test_async_variant_gives_the_same_report(seeded):
    async def go():
        async with await psycopg.AsyncConnection.connect(seeded) as conn:
            return await delivery_stats_async(conn, T0, by=["channel"], until=NOW)

    with psycopg.connect(seeded) as conn:
        assert asyncio.run(go()) == delivery_stats(conn, T0, by=["channel"], until=NOW)


def test_with_a_second_connection_the_same_report(seeded):
    """The CLI hands a second connection: the suppressed and retry counts run there at the same
    time, in the snapshot of the first (imported there); afterwards both connections are idle."""
    with psycopg.connect(seeded) as conn, psycopg.connect(seeded) as beside:
        alone = delivery_stats(conn, T0, by=["channel", "status"], until=NOW)
        together = delivery_stats(conn, T0, by=["channel", "status"], until=NOW, beside=beside)
        assert together == alone
        assert together["totals"]["retries_by_tier"] == {"10s": 2, "1m": 1}
        assert together["totals"]["suppressed_by_reason"] == {"opted_out": 1, "quiet_hours": 1}
        for connection in (conn, beside):
            assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert connection.execute("SELECT 1").fetchone() == (1,)


def test_unknown_grouping_is_refused_before_any_query(database_url):
    with psycopg.connect(database_url) as conn:  # not migrated: a query would fail differently
        with pytest.raises(ValueError, match="cannot group by 'recipient'.*channel"):
            delivery_stats(conn, T0, by=["channel", "recipient"])
        with pytest.raises(ValueError, match="repeated"):
            delivery_stats(conn, T0, by=["channel", "channel"])
