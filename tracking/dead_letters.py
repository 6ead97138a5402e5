"""Dead letters in Postgres: the tracking sink records every message of <prefix>.dlq (its failure
headers and what its payload says), and `tidings dlq` and GET /v1/dlq list and look them up here.

The bytes stay on the topic: tracking.dead_letter_fetch reads the few a `show` or a replay needs."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psycopg
from confluent_kafka import Message
from psycopg.rows import dict_row

from consumer import failure_headers as fh
from consumer.codec import Codec, DecodeError
from consumer.events import CHANNEL_MESSAGE, NOTIFICATION
from consumer.json_values import jsonable
from consumer.outages import dependency_of
from consumer.postgres import connect_async

SAMPLES = 5
# Header values come from any producer: what fits a listing, not whatever length they arrive in.
MAX_TEXT = 2000


class NothingRecorded(RuntimeError):
    """The dead_letters table does not exist: no sink has run against this database yet."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic, as read from the broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int | None = None

    @classmethod
    def of(cls, message: Message) -> "DeadLetter":
        return cls(message.topic(), message.partition(), message.offset(), message.key(), message.value(),
                   list(message.headers() or ()), message.timestamp()[1])

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def failure(self) -> dict[str, str]:
        """The tidings-* headers as text."""
        return {k: (v or b"").decode("utf-8", "replace") for k, v in self.headers if k.startswith(fh.PREFIX)}


def channel_of(failure: dict[str, str]) -> str | None:
    stage = failure.get(fh.STAGE, "")
    return failure.get(fh.CHANNEL) or (stage.removeprefix("channel-") if stage.startswith("channel-") else None)


@dataclass
class Payload:
    """A dead letter's value: a ChannelMessage, a NotificationEvent, or bytes no codec reads."""

    kind: str                       # "channel_message" | "notification" | "raw"
    record: dict[str, Any] | None = None
    raw: bytes = field(default=b"")

    def as_json(self) -> dict[str, Any]:
        if self.record is not None:
            return {"kind": self.kind, "record": jsonable(self.record)}
        return {"kind": "raw", "hex": self.raw.hex(), "text": self.raw.decode("utf-8", "backslashreplace")}


def decode_payload(codec: Codec, value: bytes | None) -> Payload:
    for kind, name in (("channel_message", CHANNEL_MESSAGE), ("notification", NOTIFICATION)):
        try:
            return Payload(kind, codec.decode(name, value), value or b"")
        except DecodeError:
            continue
    return Payload("raw", None, value or b"")


def notification_id_of(letter: DeadLetter, payload: Payload) -> str | None:
    if known := letter.failure.get(fh.NOTIFICATION_ID):
        return known
    if payload.kind == "channel_message":
        return str(payload.record["notification_id"])
    if payload.kind == "notification":
        return str(payload.record["id"])
    return None


def delivery_id_of(letter: DeadLetter, payload: Payload) -> str | None:
    """A ChannelMessage's own delivery id (what a replay re-sends), else the header's."""
    if payload.kind == "channel_message":
        return str(payload.record["delivery_id"])
    return letter.failure.get(fh.DELIVERY_ID) or None


# --- what the sink records ------------------------------------------------------------------

COLUMNS = ("dlq_topic", "dlq_partition", "dlq_offset", "stage", "reason", "error_class", "error_message",
           "channel", "notification_id", "delivery_id", "original_topic", "original_partition", "original_offset",
           "attempt", "dead_lettered_at", "payload_kind", "tenant", "replay", "value_bytes")
_INSERT = (f"INSERT INTO dead_letters ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
           " ON CONFLICT (dlq_topic, dlq_partition, dlq_offset) DO NOTHING")


def dead_letter_row(letter: DeadLetter, codec: Codec) -> tuple:
    """The dead_letters row of one message. Never raises for what the message holds: headers come
    from any producer, so whatever cannot be read is recorded as NULL."""
    failure = letter.failure
    payload = decode_payload(codec, letter.value)
    record = payload.record or {}
    replay = record.get("replay") if payload.kind == "channel_message" else None
    dead_lettered_at = fh.time_or_none(failure.get(fh.DEAD_LETTERED_AT)) or _from_millis(letter.timestamp_ms) \
        or datetime.now(timezone.utc)
    return (letter.topic, letter.partition, letter.offset,
            _text(failure.get(fh.STAGE)), _text(failure.get(fh.REASON)), _text(failure.get(fh.ERROR_CLASS)),
            _text(failure.get(fh.ERROR_MESSAGE)), _text(channel_of(failure)),
            _text(notification_id_of(letter, payload)), _text(delivery_id_of(letter, payload)),
            _text(failure.get(fh.ORIGINAL_TOPIC)), _int(failure.get(fh.ORIGINAL_PARTITION), 2 ** 31),
            _int(failure.get(fh.ORIGINAL_OFFSET), 2 ** 63), _int(failure.get(fh.ATTEMPT), 2 ** 31),
            dead_lettered_at, payload.kind, _text(record.get("tenant")),
            replay if isinstance(replay, int) else None, None if letter.value is None else len(letter.value))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:MAX_TEXT].replace("\x00", "\ufffd")  # Postgres text holds no NUL


def _int(value: str | None, bound: int) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and -bound <= number < bound else None


def _from_millis(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms and ms > 0 else None


class DeadLetterLog:
    """The sink's writer of dead_letters rows: its own connection, so dead letters never wait for
    (or slow) the delivery events' group commit. A row already recorded is skipped."""

    def __init__(self, conninfo: str, timeout_s: float):
        self.conninfo, self.timeout_s = conninfo, timeout_s
        self.conn: psycopg.AsyncConnection | None = None
        self._writing = asyncio.Lock()

    async def record(self, rows: list[tuple]) -> None:
        async with self._writing:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await connect_async(self.conninfo)
                async with asyncio.timeout(self.timeout_s):
                    await self._insert(rows)
            except asyncio.TimeoutError:
                self._abandon()
                raise psycopg.OperationalError(f"Postgres did not answer a write within {self.timeout_s:g}s") from None
            except Exception as exc:
                if dependency_of(exc) is not None:
                    self._abandon()
                raise

    async def _insert(self, rows: list[tuple]) -> None:
        async with self.conn.transaction():
            async with self.conn.cursor() as cur:
                await cur.executemany(_INSERT, rows)

    def _abandon(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.pgconn.finish()  # no round trip: a frozen server would never answer one
        self.conn = None

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


# --- what the CLI and the gateway read ------------------------------------------------------

@dataclass(frozen=True)
class DeadLetterFilter:
    """The operator's selection: every given criterion must hold. `tenants` None: every tenant's
    (and those no codec reads, which have no tenant)."""

    channel: str | None = None
    error: str | None = None        # an error class or a reason, case-insensitive
    since: datetime | None = None
    until: datetime | None = None
    tenants: frozenset[str] | None = None

    def where(self, topic: str) -> tuple[str, dict[str, Any]]:
        """A WHERE clause over dead_letters `d` holding only the criteria given, so each can use its index."""
        clauses, params = ["d.dlq_topic = %(topic)s"], {"topic": topic}
        if self.tenants is not None:
            clauses.append("d.tenant = ANY(%(tenants)s)")
            params["tenants"] = sorted(self.tenants)
        if self.channel:
            clauses.append("d.channel = %(channel)s")
            params["channel"] = self.channel
        if self.error:
            clauses.append("(lower(d.error_class) = %(error)s OR lower(d.reason) = %(error)s)")
            params["error"] = self.error.lower()
        if self.since:
            clauses.append("d.dead_lettered_at >= %(since)s")
            params["since"] = self.since
        if self.until:
            clauses.append("d.dead_lettered_at <= %(until)s")
            params["until"] = self.until
        return " AND ".join(clauses), params

    def visible(self) -> "DeadLetterFilter":
        """Everything the same tenants may see, whatever the other criteria."""
        return DeadLetterFilter(tenants=self.tenants)


def require_table(conn: psycopg.Connection) -> None:
    if not conn.execute("SELECT to_regclass('dead_letters') IS NOT NULL").fetchone()[0]:
        raise NothingRecorded("no dead letters are recorded in this database yet: the tracking sink "
                              "(`tidings run sink`) records them; `tidings db migrate` creates the table")


def summary_queries(topic: str, selection: DeadLetterFilter, samples: int = SAMPLES) -> dict[str, tuple[str, dict]]:
    """The list's three queries (each answered by an index, see migration 014)."""
    visible, visible_params = selection.visible().where(topic)
    where, params = selection.where(topic)
    return {
        "total": (f"SELECT count(*) FROM dead_letters d WHERE {visible}", visible_params),
        "groups": (f"SELECT channel, error_class, count(*) FROM dead_letters d WHERE {where}"
                   " GROUP BY channel, error_class ORDER BY count(*) DESC, channel, error_class", params),
        "samples": ("SELECT notification_id, channel, reason, error_class, error_message,"
                    " dlq_topic || '/' || dlq_partition || '/' || dlq_offset AS position"
                    f" FROM dead_letters d WHERE {where} ORDER BY dlq_partition, dlq_offset LIMIT %(samples)s",
                    {**params, "samples": samples}),
    }


def summarize(conn: psycopg.Connection, topic: str, selection: DeadLetterFilter,
              samples: int = SAMPLES) -> dict[str, Any]:
    """Counts by (channel, error class), most first, and the first few (by position) as samples:
    `dlq list --json` and GET /v1/dlq."""
    require_table(conn)
    queries = summary_queries(topic, selection, samples)
    total = conn.execute(*queries["total"]).fetchone()[0]
    groups = conn.execute(*queries["groups"]).fetchall()
    with conn.cursor(row_factory=dict_row) as cur:
        first = cur.execute(*queries["samples"]).fetchall()
    return {"total": total, "matching": sum(n for _, _, n in groups),
            "groups": [{"channel": c, "error_class": e, "count": n} for c, e, n in groups],
            "samples": first}


def notification_query(topic: str, notification_id: str, tenants: frozenset[str] | None = None) -> tuple[str, dict]:
    where, params = DeadLetterFilter(tenants=tenants).where(topic)
    return (f"SELECT * FROM dead_letters d WHERE {where} AND d.notification_id = %(notification_id)s"
            " ORDER BY dlq_partition, dlq_offset", {**params, "notification_id": notification_id})


def of_notification(conn: psycopg.Connection, topic: str, notification_id: str,
                    tenants: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The recorded dead letters of one notification, in topic order."""
    require_table(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(*notification_query(topic, notification_id, tenants)).fetchall()


_HEADER_OF = {"stage": fh.STAGE, "reason": fh.REASON, "error_class": fh.ERROR_CLASS, "error_message": fh.ERROR_MESSAGE,
              "channel": fh.CHANNEL, "notification_id": fh.NOTIFICATION_ID, "delivery_id": fh.DELIVERY_ID,
              "original_topic": fh.ORIGINAL_TOPIC, "original_partition": fh.ORIGINAL_PARTITION,
              "original_offset": fh.ORIGINAL_OFFSET, "attempt": fh.ATTEMPT}


def described(row: dict[str, Any], letter: DeadLetter | None, codec: Codec) -> dict[str, Any]:
    """One dead letter as `dlq show --json` gives it: every header and the decoded payload when the
    message is still on the topic; else what was recorded, and the payload `unavailable`."""
    position = {"topic": row["dlq_topic"], "partition": row["dlq_partition"], "offset": row["dlq_offset"]}
    if letter is not None:
        return {**position, "key": letter.key.decode("utf-8", "backslashreplace") if letter.key is not None else None,
                "headers": {k: (v or b"").decode("utf-8", "backslashreplace") for k, v in letter.headers},
                "payload": decode_payload(codec, letter.value).as_json()}
    headers = {header: str(row[column]) for column, header in _HEADER_OF.items() if row[column] is not None}
    headers[fh.DEAD_LETTERED_AT] = fh.iso(row["dead_lettered_at"])
    return {**position, "key": None, "headers": headers,
            "payload": {"kind": "unavailable", "recorded_kind": row["payload_kind"],
                        "reason": "no longer on the dead-letter topic (retention) or the broker did not answer"}}

