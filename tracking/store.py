"""The delivery log: writes batches of decoded DeliveryEvents to Postgres, once each.

Fed by the tracking sink's consumer; read by tracking.stats, the CLI and the tests.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import operator
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal

import psycopg
from psycopg.types.uuid import UUIDBinaryDumper

from consumer.postgres import connect_async
from tracking.opt_outs import RECORD_PROVIDER_OPT_OUTS
from consumer.statuses import FINAL_STATUSES

# The DeliveryEvent fields with their delivery_events types, in column order (recorded_at is the
# server's). The types let the batch go over as binary COPY: no text formatting or parsing.
_COLUMNS = (
    ("event_id", "uuid"), ("notification_id", "uuid"), ("delivery_id", "uuid"), ("channel", "text"),
    ("priority", "text"), ("provider", "text"), ("status", "text"), ("attempt", "int4"),
    ("status_code", "int4"), ("error_class", "text"), ("error_message", "text"),
    ("provider_message_id", "text"), ("cost", "numeric"), ("cost_currency", "text"),
    ("recipient_id", "text"), ("source", "text"), ("tenant", "text"), ("category", "text"),
    ("occurred_at", "timestamptz"),
    # v2 (migration 002); v1 events lack them and record as NULL / replay 0.
    ("retry_tier", "text"), ("due_at", "timestamptz"), ("stage", "text"), ("reason", "text"),
    ("replay", "int4"), ("latency_ms", "int4"),
)
EVENT_COLUMNS = tuple(name for name, _ in _COLUMNS)
COLUMN_TYPES = tuple(type_ for _, type_ in _COLUMNS)
_COLUMN_LIST = ", ".join(EVENT_COLUMNS)

# Session-scoped and emptied at every commit, so batches never see each other's rows. Created
# by a session's first batch (a no-op if it exists). Public with RECORD_STAGED for bench.delivery_history,
# which fills a log the way the sink writes it.
CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS delivery_events_staging ON COMMIT DELETE ROWS
    AS SELECT {_COLUMN_LIST} FROM delivery_events WITH NO DATA
"""

# One statement so the new rows (and only those) feed the fold, even if a batch is redelivered; it
# records provider opt-outs too (tracking.opt_outs), one round trip fewer.
#
# Current-state rule: the status columns come from the event with the greatest
# (replay, status is final, occurred_at, event_id). Within one replay a final status wins
# whatever its time: work redone after a crash or rebalance re-emits earlier non-final events
# (same ids, later times), and they must not reopen a delivery that was `sent`. A `replayed`
# event starts the next replay, so it reopens a dead-lettered delivery; event_id only makes
# exact ties deterministic. Because it is a maximum, the result does not depend on arrival order.
#
# Replays: `replay` is the highest seen, and `attempts` the highest attempt within that latest
# replay, so a replayed delivery counts its attempts afresh. The 'replayed' marker itself is left
# out of the attempt count (it may carry the dead letter's last attempt); a delivery with nothing
# but markers in its latest replay has attempts 0. Both are computed per batch and merged with the
# stored row by comparing replays, so they too are independent of arrival order.
#
# sent_at is the latest `sent` event's time whatever the current status: a receipt (delivered,
# bounced, ...) becomes the status after `sent`, and statistics still measure created-to-sent.
RECORD_STAGED = f"""
WITH fresh AS (
    -- The id ledger decides what is new (delivery_events is partitioned by day and cannot hold
    -- a unique index on event_id alone; see migration 008).
    INSERT INTO delivery_event_ids (event_id, occurred_at)
    SELECT event_id, occurred_at FROM delivery_events_staging
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO delivery_events ({_COLUMN_LIST})
    SELECT {_COLUMN_LIST} FROM delivery_events_staging JOIN fresh USING (event_id)
    RETURNING *
), latest AS (
    SELECT DISTINCT ON (delivery_id) *
    FROM inserted
    ORDER BY delivery_id, replay DESC, status = ANY(%(final)s) DESC, occurred_at DESC, event_id DESC
), totals AS (
    SELECT delivery_id, count(*) AS event_count, max(replay) AS replay,
           coalesce(max(attempt) FILTER (WHERE replay = latest_replay AND status <> 'replayed'),
                    0) AS attempts,
           sum(cost) AS cost, min(occurred_at) AS first_event_at, max(occurred_at) AS last_event_at,
           max(occurred_at) FILTER (WHERE status = 'sent') AS sent_at
    FROM (SELECT *, max(replay) OVER (PARTITION BY delivery_id) AS latest_replay
          FROM inserted) AS i
    GROUP BY delivery_id
), folded AS (
    INSERT INTO deliveries AS d (
        delivery_id, notification_id, channel, priority, recipient_id, source, tenant, category,
        status, status_at, status_event_id, status_code, error_class, error_message,
        provider, provider_message_id, retry_tier, due_at, stage, reason,
        replay, attempts, cost, cost_currency, event_count, first_event_at, last_event_at, sent_at)
    SELECT l.delivery_id, l.notification_id, l.channel, l.priority, l.recipient_id, l.source,
           l.tenant, l.category,
           l.status, l.occurred_at, l.event_id, l.status_code, l.error_class, l.error_message,
           l.provider, l.provider_message_id, l.retry_tier, l.due_at, l.stage, l.reason,
           t.replay, t.attempts, t.cost, l.cost_currency, t.event_count, t.first_event_at,
           t.last_event_at, t.sent_at
    FROM latest l JOIN totals t USING (delivery_id)
    ON CONFLICT (delivery_id) DO UPDATE SET
        (status, status_at, status_event_id, status_code, error_class, error_message,
         provider, provider_message_id, retry_tier, due_at, stage, reason) = (
            SELECT c.status, c.status_at, c.status_event_id, c.status_code, c.error_class,
                   c.error_message, c.provider, c.provider_message_id, c.retry_tier, c.due_at,
                   c.stage, c.reason
            FROM (VALUES
                (excluded.replay, excluded.status, excluded.status_at, excluded.status_event_id,
                 excluded.status_code, excluded.error_class, excluded.error_message,
                 excluded.provider, excluded.provider_message_id, excluded.retry_tier,
                 excluded.due_at, excluded.stage, excluded.reason),
                (d.replay, d.status, d.status_at, d.status_event_id, d.status_code, d.error_class,
                 d.error_message, d.provider, d.provider_message_id, d.retry_tier, d.due_at,
                 d.stage, d.reason)
            ) AS c (replay, status, status_at, status_event_id, status_code, error_class,
                    error_message, provider, provider_message_id, retry_tier, due_at, stage, reason)
            ORDER BY c.replay DESC, c.status = ANY(%(final)s) DESC, c.status_at DESC,
                     c.status_event_id DESC
            LIMIT 1),
        recipient_id = coalesce(d.recipient_id, excluded.recipient_id),
        source = coalesce(d.source, excluded.source),
        tenant = coalesce(d.tenant, excluded.tenant),
        category = coalesce(d.category, excluded.category),
        -- Attempts of an older replay no longer count; see the replay note above.
        attempts = CASE WHEN excluded.replay > d.replay THEN excluded.attempts
                        WHEN excluded.replay < d.replay THEN d.attempts
                        ELSE greatest(d.attempts, excluded.attempts) END,
        replay = greatest(d.replay, excluded.replay),
        -- Each attempt may be billed, so cost adds up over events; NULL only when none had one.
        cost = CASE WHEN d.cost IS NULL AND excluded.cost IS NULL THEN NULL
                    ELSE coalesce(d.cost, 0) + coalesce(excluded.cost, 0) END,
        cost_currency = coalesce(excluded.cost_currency, d.cost_currency),
        event_count = d.event_count + excluded.event_count,
        first_event_at = least(d.first_event_at, excluded.first_event_at),
        last_event_at = greatest(d.last_event_at, excluded.last_event_at),
        -- The latest `sent` (greatest skips NULL): a receipt replaces the status, not this.
        sent_at = greatest(d.sent_at, excluded.sent_at),
        updated_at = now()
), opted_out AS (
{RECORD_PROVIDER_OPT_OUTS}
)
SELECT count(*) FROM inserted
"""


_FIELDS = operator.itemgetter(*EVENT_COLUMNS)
_TIMES = tuple(i for i, (_, type_) in enumerate(_COLUMNS) if type_ == "timestamptz")
_PRIORITY, _ATTEMPT, _COST, _OCCURRED_AT, _DUE_AT, _REPLAY = map(
    EVENT_COLUMNS.index, ("priority", "attempt", "cost", "occurred_at", "due_at", "replay"))


def event_row(event: Mapping) -> tuple:
    """One decoded DeliveryEvent as a staging row; tolerant of missing optional fields.

    The values must suit binary COPY (uuid.UUID, aware datetime, Decimal). fastavro hands them out
    that way, so a decoded v2 event goes through on the fast path: one itemgetter call."""
    try:
        row = _FIELDS(event)
    except KeyError:  # a v1 event (or a hand-made one) without the newer fields
        row = tuple(map(event.get, EVENT_COLUMNS))
    if (type(row[0]) is uuid.UUID and _aware(row[_OCCURRED_AT])
            and (row[_DUE_AT] is None or _aware(row[_DUE_AT])) and row[_PRIORITY]
            and row[_ATTEMPT] is not None and row[_REPLAY] is not None
            and (row[_COST] is None or type(row[_COST]) is Decimal)):
        return row
    return _normalised(list(row))


def _aware(value) -> bool:
    return type(value) is dt.datetime and value.tzinfo is not None


def _normalised(row: list) -> tuple:
    # The event id is the batch's de-duplication key, so one spelling only; the other ids may stay
    # text (the COPY dumper below takes both).
    if not isinstance(row[0], uuid.UUID):
        row[0] = uuid.UUID(str(row[0]))
    for i in _TIMES:  # DeliveryEvent times are UTC (Avro timestamp-millis)
        if isinstance(row[i], int):  # raw timestamp-millis, when decoded without logical types
            row[i] = dt.datetime.fromtimestamp(row[i] / 1000, dt.timezone.utc)
        elif isinstance(row[i], dt.datetime) and row[i].tzinfo is None:
            row[i] = row[i].replace(tzinfo=dt.timezone.utc)
    if row[_COST] is not None and not isinstance(row[_COST], Decimal):
        row[_COST] = Decimal(str(row[_COST]))
    row[_PRIORITY] = row[_PRIORITY] or "NORMAL"
    row[_ATTEMPT] = row[_ATTEMPT] or 0
    row[_REPLAY] = row[_REPLAY] or 0
    return tuple(row)


class _UUIDBinaryDumper(UUIDBinaryDumper):
    """A uuid column of the binary COPY from a uuid.UUID or from its text form."""

    def dump(self, obj: uuid.UUID | str) -> bytes:
        return (obj if isinstance(obj, uuid.UUID) else uuid.UUID(obj)).bytes


def _utc_day(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.timezone.utc).date()


class DeliveryLog:
    """Records DeliveryEvents in Postgres; safe to call again with events already recorded."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn
        conn.adapters.register_dumper(None, _UUIDBinaryDumper)  # by oid only: for COPY's set_types
        self._days: set[dt.date] = set()  # day partitions known to exist (migration 008)
        self._staging_ready = False  # the session's staging table exists

    @classmethod
    async def connect(cls, conninfo: str) -> DeliveryLog:
        conn = await connect_async(conninfo)
        # The staging table has no statistics, so the planner's cost for a large batch passes
        # jit_above_cost and every batch would pay ~25 ms of JIT compilation for a plain plan.
        await conn.execute("SET jit = off")
        return cls(conn)

    async def close(self) -> None:
        await self.conn.close()

    def abandon(self) -> None:
        """Give up a connection that failed or stopped answering; the next write connects anew."""
        if not self.conn.closed:
            self.conn.pgconn.finish()  # no round trip: a frozen server would never answer one

    async def record_rows_within(self, rows: Iterable[tuple], timeout_s: float) -> int:
        """record_rows, given up after `timeout_s` (a frozen server keeps the socket open and never
        answers): cancelled, and OperationalError raised so the caller reconnects and retries. The
        rows are recorded once either way: event ids make a retried batch a no-op."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.record_rows(rows)
        except asyncio.TimeoutError:
            raise psycopg.OperationalError(f"Postgres did not answer a write within {timeout_s:g}s") from None

    async def __aenter__(self) -> DeliveryLog:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def record(self, events: Iterable[Mapping]) -> int:
        """Write a batch in one transaction; return how many events were new.

        COPY into a staging table costs one round trip for the whole batch, and the single
        INSERT .. SELECT that follows skips events already stored (a redelivered Kafka batch).
        """
        return await self.record_rows(map(event_row, events))

    async def record_rows(self, rows: Iterable[tuple]) -> int:
        """`record` for rows already made by event_row: the sink makes each as it decodes the
        event, while the event is still in the CPU's cache (at write time it costs ~5x more)."""
        # One row per event id: a batch may hold the same event twice (redelivery), and the join
        # with the ledger's new ids below would otherwise insert it twice.
        rows = list({row[0]: row for row in rows}.values())
        if not rows:
            return 0
        try:
            return await self._record(rows)
        except psycopg.errors.CheckViolation:  # no partition for a day: pruned since we cached it
            self._days.clear()
            return await self._record(rows)

    async def _ensure_partitions(self, rows: list[tuple]) -> None:
        """Create the day partitions this batch needs, outside its transaction (DDL locks the
        parent table briefly; once per new day, not once per batch)."""
        times = [row[_OCCURRED_AT] for row in rows]
        first, last = _utc_day(min(times)), _utc_day(max(times))
        # Almost every batch falls within one day; only a batch that spans several looks at each event.
        days = {first} if first == last else {_utc_day(at) for at in times}
        if days - self._days:
            await self.conn.execute("SELECT tidings_ensure_event_partitions(%s::date[])",
                                    [sorted(days - self._days)])
            self._days |= days

    async def _record(self, rows: list[tuple]) -> int:
        await self._ensure_partitions(rows)
        async with self.conn.transaction():
            async with self.conn.cursor() as cur:
                if not self._staging_ready:
                    await cur.execute(CREATE_STAGING)
                async with cur.copy(
                    f"COPY delivery_events_staging ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(list(COLUMN_TYPES))
                    for row in rows:
                        await copy.write_row(row)
                await cur.execute(RECORD_STAGED, {"final": sorted(FINAL_STATUSES)})
                (new,) = await cur.fetchone()
        self._staging_ready = True  # committed, so the table outlives this transaction
        return new
