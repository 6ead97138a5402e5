"""The delivery log against a real Postgres: migrations, idempotent batches, the state fold, stats."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from decimal import Decimal

import psycopg

from tracking import stats
from tracking.migrate import migrate, pending_files
from tracking.store import DeliveryLog

T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def event(delivery_id, status, *, seconds=0, notification_id=None, **fields) -> dict:
    """A DeliveryEvent with str ids (fastavro decodes uuid.UUID; the store takes both), an aware
    datetime and a Decimal cost."""
    return {
        "event_id": str(uuid.uuid4()),
        "notification_id": notification_id or str(uuid.uuid5(uuid.NAMESPACE_URL, str(delivery_id))),
        "delivery_id": str(delivery_id),
        "channel": "email",
        "priority": "NORMAL",
        "provider": None,
        "status": status,
        "attempt": 0,
        "status_code": None,
        "error_class": None,
        "error_message": None,
        "provider_message_id": None,
        "cost": None,
        "cost_currency": None,
        "recipient_id": "user-1",
        "source": "billing",
        "tenant": "acme",
        "category": "invoice",
        "occurred_at": T0 + dt.timedelta(seconds=seconds),
        **fields,
    }


def record(url: str, events: list[dict]) -> int:
    async def go():
        async with await DeliveryLog.connect(url) as log:
            return await log.record(events)

    return asyncio.run(go())


def query(url: str, fn, *args):
    """Run one tracking.stats function on a fresh connection."""
    async def go():
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await fn(conn, *args)

    return asyncio.run(go())


def test_migrate_applies_every_file_once(database_url):
    names = [path.name for path in pending_files()]
    assert migrate(database_url) == names
    assert migrate(database_url) == []
    with psycopg.connect(database_url) as conn:
        ledger = conn.execute("SELECT name FROM tidings_schema_migrations ORDER BY name").fetchall()
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    assert [name for (name,) in ledger] == names
    assert {"deliveries", "delivery_events", "tidings_schema_migrations"} <= {t for (t,) in tables}


def test_concurrent_migrate_applies_each_file_exactly_once(database_url):
    results, errors = [], []
    start = threading.Barrier(2)

    def run():
        start.wait()
        try:
            results.append(migrate(database_url))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(sum(results, [])) == [path.name for path in pending_files()]


def test_record_writes_events_and_current_state(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()  # a UUID object, as some fastavro versions hand out
    notification = uuid.uuid4()
    batch = [
        event(delivery, "queued", notification_id=notification),
        event(delivery, "retry_scheduled", seconds=1, notification_id=notification, attempt=1,
              status_code=503, error_class="Transient", error_message="try later",
              provider="smtp"),
        event(delivery, "sent", seconds=5, notification_id=notification, attempt=2,
              status_code=250, provider="smtp", provider_message_id="<m1@x>",
              cost=Decimal("0.001250"), cost_currency="USD"),
    ]
    batch[0]["event_id"] = uuid.UUID(batch[0]["event_id"])
    assert record(database_url, batch) == 3

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_id::text, status, attempt, status_code, error_class, cost, occurred_at"
            " FROM delivery_events ORDER BY occurred_at"
        ).fetchall()
    assert rows == [
        (str(batch[0]["event_id"]), "queued", 0, None, None, None, T0),
        (batch[1]["event_id"], "retry_scheduled", 1, 503, "Transient", None,
         T0 + dt.timedelta(seconds=1)),
        (batch[2]["event_id"], "sent", 2, 250, None, Decimal("0.001250"),
         T0 + dt.timedelta(seconds=5)),
    ]
    state = query(database_url, stats.delivery_state, delivery)
    assert state["notification_id"] == notification
    assert state["status"] == "sent"
    assert state["status_at"] == T0 + dt.timedelta(seconds=5)
    assert state["provider_message_id"] == "<m1@x>"
    assert state["error_class"] is None
    assert (state["attempts"], state["event_count"]) == (2, 3)
    assert (state["cost"], state["cost_currency"]) == (Decimal("0.001250"), "USD")
    assert (state["first_event_at"], state["last_event_at"]) == (T0, T0 + dt.timedelta(seconds=5))
    assert (state["tenant"], state["category"], state["recipient_id"]) == ("acme", "invoice", "user-1")


def test_recording_a_batch_again_changes_nothing(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    batch = [
        event(delivery, "queued"),
        event(delivery, "sent", seconds=1, attempt=1, cost=Decimal("0.5"), cost_currency="USD"),
    ]
    assert record(database_url, batch) == 2
    before = query(database_url, stats.delivery_state, delivery)

    assert record(database_url, batch) == 0
    assert record(database_url, batch + batch) == 0  # duplicates inside one batch, too
    assert query(database_url, stats.event_count) == 2
    after = query(database_url, stats.delivery_state, delivery)
    assert after["updated_at"] == before["updated_at"]  # the fold saw no new rows
    assert {k: after[k] for k in ("status", "event_count", "cost")} == {
        "status": "sent", "event_count": 2, "cost": Decimal("0.5")}


def test_duplicate_event_inside_one_fresh_batch_counts_once(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    queued = event(delivery, "queued")
    assert record(database_url, [queued, dict(queued)]) == 1
    assert query(database_url, stats.delivery_state, delivery)["event_count"] == 1


def test_empty_batch_is_a_no_op(database_url):
    migrate(database_url)
    assert record(database_url, []) == 0


def test_late_queued_does_not_overwrite_sent(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    record(database_url, [event(delivery, "sent", seconds=2, attempt=1)])
    record(database_url, [event(delivery, "queued", seconds=0)])
    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["event_count"], state["first_event_at"]) == ("sent", 2, T0)


def test_final_status_wins_a_tie_in_either_order(database_url):
    migrate(database_url)
    first, second = uuid.uuid4(), uuid.uuid4()
    # The non-final events get the larger event_ids, so only the finality rule can pick 'failed'.
    low = ["00000000-0000-4000-8000-00000000000%d" % i for i in range(2)]
    high = ["ffffffff-ffff-4fff-bfff-fffffffffff%d" % i for i in range(2)]
    # Same batch and separate batches: both folds apply the same rule.
    record(database_url, [event(first, "retry_scheduled", seconds=3, event_id=high[0]),
                          event(first, "failed", seconds=3, event_id=low[0])])
    record(database_url, [event(second, "failed", seconds=3, event_id=low[1])])
    record(database_url, [event(second, "retry_scheduled", seconds=3, event_id=high[1])])
    assert query(database_url, stats.delivery_state, first)["status"] == "failed"
    assert query(database_url, stats.delivery_state, second)["status"] == "failed"


def test_replay_reopens_a_dead_letter_and_order_does_not_matter(database_url):
    migrate(database_url)
    events_of = {}
    for arrival in ("in order", "reversed"):
        delivery = uuid.uuid4()
        history = [
            event(delivery, "queued", seconds=0),
            event(delivery, "dead_lettered", seconds=1, error_class="Permanent"),
            event(delivery, "replayed", seconds=10, replay=1),  # as `tidings dlq replay` writes it
        ]
        events_of[arrival] = delivery
        for item in history if arrival == "in order" else reversed(history):
            record(database_url, [item])
    for delivery in events_of.values():
        state = query(database_url, stats.delivery_state, delivery)
        assert (state["status"], state["error_class"], state["event_count"]) == ("replayed", None, 3)


def test_a_final_status_is_never_overridden_by_redone_earlier_work(database_url):
    """Work redone after a crash or rebalance re-emits earlier events with their deterministic ids
    and later times: `queued` or `retry_scheduled` after `sent`. Whatever the arrival order, the
    delivery stays sent; and a `sent` redone in the same run is a no-op, not a lost state."""
    migrate(database_url)
    for arrival in ("in order", "reversed", "redo in another batch"):
        delivery = uuid.uuid4()
        queued, sent = event(delivery, "queued", seconds=0), event(delivery, "sent", seconds=1, attempt=1)
        redone_queued = {**queued, "occurred_at": T0 + dt.timedelta(seconds=30)}  # same id, later time
        redone_retry = event(delivery, "retry_scheduled", seconds=40, attempt=1)
        if arrival == "in order":
            record(database_url, [queued, sent, redone_retry])
        elif arrival == "reversed":
            record(database_url, [redone_retry, sent, queued])
        else:
            record(database_url, [queued, sent])
            record(database_url, [redone_queued])
            record(database_url, [redone_retry, {**sent, "occurred_at": T0 + dt.timedelta(seconds=50)}])
        state = query(database_url, stats.delivery_state, delivery)
        assert state["status"] == "sent", arrival


def test_stats_report_current_state(database_url):
    migrate(database_url)
    n1, n2 = str(uuid.uuid4()), str(uuid.uuid4())
    d1, d2, d3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    record(database_url, [
        event(d1, "queued", notification_id=n1),
        event(d1, "sent", seconds=1, notification_id=n1),
        event(d2, "queued", notification_id=n1),
        event(d2, "dead_lettered", seconds=2, notification_id=n1),
        event(d3, "queued", notification_id=n2),
        event(d3, "retry_scheduled", seconds=1, notification_id=n2),
    ])
    assert query(database_url, stats.event_count) == 6
    assert query(database_url, stats.status_counts) == {
        "sent": 1, "dead_lettered": 1, "retry_scheduled": 1}
    assert query(database_url, stats.count_final) == 2
    assert query(database_url, stats.count_final, [n2]) == 0
    assert query(database_url, stats.count_final, [uuid.UUID(n1), n2]) == 2
    assert query(database_url, stats.final_statuses, [n1, n2]) == {n1: ["dead_lettered", "sent"]}
    assert query(database_url, stats.current_statuses, [n1, n2]) == {
        n1: ["dead_lettered", "sent"], n2: ["retry_scheduled"]}
    assert query(database_url, stats.delivery_state, uuid.uuid4()) is None
