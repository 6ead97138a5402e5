"""Replaying dead letters to the main-lane topic they first failed from, for `tidings dlq replay`
and the gateway's replay jobs: the selection and the plan come from Postgres (dead_letters, the
dlq_replays ledger, deliveries already `sent`), the bytes from the broker by offset.

Messages go back one at a time: each ledger row is written as soon as the broker acknowledges its
republish, so a crash between that acknowledgement and the ledger write replays that one message
again on the next run, and nothing more. One replay of a topic runs at a time (an advisory lock),
so two replays started together never both re-send a message."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
from psycopg.rows import dict_row

from consumer import failure_headers as fh
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, DELIVERY, Clock, delivery_event, utcnow
from consumer.pacing import Pacer
from consumer.publisher import Publisher
from consumer.settings import Settings
from tracking.dead_letter_fetch import fetch_dead_letters
from tracking.dead_letters import (DeadLetter, DeadLetterFilter, Payload, decode_payload, delivery_id_of,
                                   notification_id_of, require_table)
from consumer.statuses import SENT_STATUSES

# Dead letters planned, fetched and replayed together: bounds memory whatever the selection's size.
CHUNK = 500
_LOCK = "tidings-dlq-replay:"
_UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# Every matching dead letter with what decides its fate: replayed before (the ledger), a delivery
# already `sent` (or past it: a receipt came) is never replayed, no original topic to go back to.
_PLANNED = f"""
FROM dead_letters d
LEFT JOIN dlq_replays r
       ON r.dlq_topic = d.dlq_topic AND r.dlq_partition = d.dlq_partition AND r.dlq_offset = d.dlq_offset
LEFT JOIN deliveries s
       ON s.status IN ({", ".join(f"'{status}'" for status in SENT_STATUSES)})
      AND s.delivery_id = CASE WHEN d.delivery_id ~ '{_UUID}' THEN d.delivery_id::uuid END
"""
_TO_REPLAY = "r.dlq_offset IS NULL AND d.original_topic IS NOT NULL AND s.delivery_id IS NULL"


@dataclass
class ReplayPlan:
    """What a replay of a selection does, counted in Postgres before anything is sent."""

    matching: int = 0
    already_replayed: int = 0
    already_sent: int = 0
    no_origin: int = 0
    to_replay: int = 0


class ReplayLedger:
    """The dlq_replays table and the replay lock, on one connection (the lock is the session's)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    @classmethod
    def open(cls, conninfo: str, *, migrate: bool) -> "ReplayLedger":
        if migrate:
            from tracking.migrate import migrate as apply_migrations
            apply_migrations(conninfo)
        return cls(psycopg.connect(conninfo, autocommit=True))

    def close(self) -> None:
        self.conn.close()

    def lock(self, dlq_topic: str, stop: threading.Event | None = None, on_wait: Callable[[], None] = lambda: None,
             poll_s: float = 0.5) -> bool:
        """Wait for the replay lock of `dlq_topic` (held until this connection closes); False if
        `stop` was set first."""
        take = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
        if self.conn.execute(take, [_LOCK + dlq_topic]).fetchone()[0]:
            return True
        on_wait()
        while True:
            if stop is None:
                time.sleep(poll_s)
            elif stop.wait(poll_s):
                return False
            if self.conn.execute(take, [_LOCK + dlq_topic]).fetchone()[0]:
                return True

    def plan(self, dlq_topic: str, selection: DeadLetterFilter) -> ReplayPlan:
        require_table(self.conn)
        where, params = selection.where(dlq_topic)
        row = self.conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE r.dlq_offset IS NOT NULL),"
            f" count(*) FILTER (WHERE r.dlq_offset IS NULL AND d.original_topic IS NOT NULL"
            f"                  AND s.delivery_id IS NOT NULL),"
            f" count(*) FILTER (WHERE r.dlq_offset IS NULL AND d.original_topic IS NULL),"
            f" count(*) FILTER (WHERE {_TO_REPLAY}) {_PLANNED} WHERE {where}", params).fetchone()
        return ReplayPlan(*row)

    def planned(self, dlq_topic: str, selection: DeadLetterFilter, after: tuple[int, int] = (-1, -1),
                limit: int = CHUNK) -> list[dict[str, Any]]:
        """The next dead letters to replay after position `after`, in topic order."""
        where, params = selection.where(dlq_topic)
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                f"SELECT d.dlq_topic, d.dlq_partition, d.dlq_offset, d.original_topic, d.notification_id,"
                f" d.delivery_id, d.payload_kind, d.replay {_PLANNED}"
                f" WHERE {where} AND {_TO_REPLAY} AND (d.dlq_partition, d.dlq_offset) > (%(p)s, %(o)s)"
                f" ORDER BY d.dlq_partition, d.dlq_offset LIMIT %(limit)s",
                {**params, "p": after[0], "o": after[1], "limit": limit}).fetchall()

    def record(self, done: list["Republish"]) -> None:
        if not done:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, original_topic, notification_id,"
                " delivery_id, replay) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(r.letter.topic, r.letter.partition, r.letter.offset, r.topic, r.notification_id, r.delivery_id,
                  r.replay) for r in done])


def describe_planned(row: dict[str, Any]) -> str:
    """One line per dead letter a dry run would replay, whole ids: meant to be grepped."""
    replay = f" replay {row['replay'] + 1}" if row["payload_kind"] == "channel_message" and row["replay"] is not None \
        else ""
    return (f"would replay {row['dlq_topic']}/{row['dlq_partition']}/{row['dlq_offset']} -> {row['original_topic']} "
            f"notification {row['notification_id'] or '-'} delivery {row['delivery_id'] or '-'}{replay}")


@dataclass
class Republish:
    """One dead letter as it goes back: target topic, new value and headers, its `replayed` event."""

    letter: DeadLetter
    payload: Payload
    topic: str
    value: bytes | None
    headers: list[tuple[str, bytes]]
    notification_id: str | None
    delivery_id: str | None
    replay: int | None = None
    event: dict | None = None


def republish_of(letter: DeadLetter, codec: Codec, clock: Clock = utcnow) -> Republish:
    """ChannelMessages go back with attempt 1 and one more replay; anything else byte for byte."""
    payload = decode_payload(codec, letter.value)
    headers = fh.without_failure_headers(letter.headers) + [(fh.REPLAYED_FROM, letter.position.encode())]
    republish = Republish(letter, payload, letter.failure.get(fh.ORIGINAL_TOPIC, ""), letter.value, headers,
                          notification_id_of(letter, payload), delivery_id_of(letter, payload))
    if payload.kind == "channel_message":
        message = {**payload.record, "attempt": 1, "replay": payload.record.get("replay", 0) + 1}
        republish.value = codec.encode(CHANNEL_MESSAGE, message)
        republish.replay = message["replay"]
        # The replay count is part of the event id, so every replay of a delivery is recorded.
        republish.event = delivery_event(message, "replayed", clock=clock, attempt=0)
    return republish


@dataclass
class ReplayResult:
    replayed: int = 0
    failures: list[str] = field(default_factory=list)
    stopped: bool = False  # ended before the selection was through: stopped, or the broker did not answer


def execute_replay(republishes: list[Republish], publisher: Publisher, ledger: ReplayLedger, codec: Codec,
                   deliveries_topic: str, pacer: Pacer, advance: Callable[[], None] = lambda: None,
                   stop: threading.Event | None = None, flush_timeout_s: float = 60.0) -> ReplayResult:
    """Publish each message (paced) and wait for its acknowledgement; then its ledger row and its
    `replayed` event. One message at a time, so a replay killed at any moment and run again
    re-sends at most the one message that was acknowledged but not yet in the ledger."""
    result = ReplayResult()
    failures: list[str] = []

    def on_republished(republish: Republish, settled: threading.Event, acked: list[Republish]):
        def report(error, _message) -> None:  # runs in flush() or on the publisher's poll thread
            if error is not None:
                failures.append(f"{republish.letter.position} -> {republish.topic}: {error.str()}")
            else:
                acked.append(republish)
            settled.set()
        return report

    def on_event(error, _message) -> None:
        if error is not None:
            failures.append(f"replayed event to {deliveries_topic}: {error.str()}")

    for republish in republishes:
        if stop is not None and stop.is_set():
            result.stopped = True
            break
        pacer.wait()
        settled, acked = threading.Event(), []
        publisher.publish_sync(republish.topic, republish.value, key=republish.letter.key,
                               headers=republish.headers, on_delivery=on_republished(republish, settled, acked))
        if publisher.flush(flush_timeout_s) or not settled.wait(flush_timeout_s):
            failures.append(f"{republish.letter.position} -> {republish.topic}: not acknowledged within "
                            f"{flush_timeout_s:.0f}s")
            result.stopped = True
            break
        if not acked:
            continue
        ledger.record(acked)
        if republish.event is not None:  # the event only once the message is back on its topic
            publisher.publish_sync(deliveries_topic, codec.encode(DELIVERY, republish.event),
                                   key=republish.event["delivery_id"], on_delivery=on_event)
        result.replayed += 1
        advance()
    if publisher.flush(flush_timeout_s):  # the last `replayed` event
        failures.append(f"replayed events to {deliveries_topic}: not acknowledged within {flush_timeout_s:.0f}s")
    result.failures = failures
    return result


@dataclass
class Replay:
    """A replay of one selection of one dead-letter topic, chunk by chunk: plan in Postgres, fetch
    the chunk's messages by offset, re-publish them one at a time."""

    settings: Settings
    ledger: ReplayLedger
    codec: Codec
    dlq_topic: str
    deliveries_topic: str
    selection: DeadLetterFilter
    clock: Clock = utcnow
    idle_s: float = 2.0

    def run(self, publisher: Publisher, pacer: Pacer, advance: Callable[[], None] = lambda: None,
            stop: threading.Event | None = None, on_failure: Callable[[str], None] = lambda failure: None
            ) -> ReplayResult:
        result = ReplayResult()
        after = (-1, -1)
        while not result.stopped and (rows := self.ledger.planned(self.dlq_topic, self.selection, after)):
            after = (rows[-1]["dlq_partition"], rows[-1]["dlq_offset"])
            letters = fetch_dead_letters(self.settings, self.dlq_topic,
                                         [(r["dlq_partition"], r["dlq_offset"]) for r in rows], idle_s=self.idle_s)
            republishes = []
            for row in rows:
                letter = letters.get((row["dlq_partition"], row["dlq_offset"]))
                if letter is None:
                    failure = (f"{row['dlq_topic']}/{row['dlq_partition']}/{row['dlq_offset']}: no longer on the "
                               "dead-letter topic (retention?) or the broker did not answer")
                    result.failures.append(failure)
                    on_failure(failure)
                    continue
                republishes.append(republish_of(letter, self.codec, self.clock))
            done = execute_replay(republishes, publisher, self.ledger, self.codec, self.deliveries_topic, pacer,
                                  advance, stop)
            result.replayed += done.replayed
            result.stopped = done.stopped
            for failure in done.failures:
                result.failures.append(failure)
                on_failure(failure)
        return result
