"""Replaying dead letters to the main-lane topic they first failed from, with a Postgres ledger
(dlq_replays) so reruns skip what was replayed; deliveries already `sent` are never replayed.

Messages go back one at a time: each ledger row is written as soon as the broker acknowledges its
republish, so a crash between that acknowledgement and the ledger write replays that one message
again on the next run, and nothing more."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import psycopg

from cli.dlq_read import DeadLetter, Payload, decode_payload, notification_id_of
from consumer import failure_headers as fh
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, DELIVERY, Clock, delivery_event, utcnow
from consumer.publisher import Publisher


class RatePacer:
    """At most `per_second` calls to wait() return per second (None: no limit)."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self._clock()
        if self._next is not None and self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


class ReplayLedger:
    """The dlq_replays table, and the read of `deliveries` that protects sent deliveries."""

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

    def _has(self, table: str) -> bool:
        # A dry run does not migrate: a missing table means nothing was replayed or recorded yet.
        return self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]

    def replayed(self, dlq_topic: str) -> set[tuple[int, int]]:
        if not self._has("dlq_replays"):
            return set()
        rows = self.conn.execute("SELECT dlq_partition, dlq_offset FROM dlq_replays WHERE dlq_topic = %s", [dlq_topic])
        return {(p, o) for p, o in rows}

    def sent(self, delivery_ids: set[str]) -> set[str]:
        ids = [d for d in delivery_ids if _is_uuid(d)]
        if not ids or not self._has("deliveries"):
            return set()
        rows = self.conn.execute("SELECT delivery_id::text FROM deliveries WHERE status = 'sent' "
                                 "AND delivery_id = ANY(%s::uuid[])", [ids])
        return {r[0] for r in rows}

    def record(self, done: list["Republish"]) -> None:
        if not done:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, original_topic, notification_id,"
                " delivery_id, replay) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(r.letter.topic, r.letter.partition, r.letter.offset, r.topic, r.notification_id, r.delivery_id,
                  r.replay) for r in done])


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
    failure = letter.failure
    republish = Republish(letter, payload, failure.get(fh.ORIGINAL_TOPIC, ""), letter.value, headers,
                          notification_id_of(letter, payload), failure.get(fh.DELIVERY_ID))
    if payload.kind == "channel_message":
        message = {**payload.record, "attempt": 1, "replay": payload.record.get("replay", 0) + 1}
        republish.value = codec.encode(CHANNEL_MESSAGE, message)
        republish.delivery_id = str(message["delivery_id"])
        republish.replay = message["replay"]
        # The replay count is part of the event id, so every replay of a delivery is recorded.
        republish.event = delivery_event(message, "replayed", clock=clock, attempt=0)
    return republish


@dataclass
class ReplayPlan:
    replay: list[Republish] = field(default_factory=list)
    already_replayed: list[DeadLetter] = field(default_factory=list)
    already_sent: list[Republish] = field(default_factory=list)
    no_origin: list[DeadLetter] = field(default_factory=list)


def plan_replay(letters: list[DeadLetter], ledger: ReplayLedger, codec: Codec, dlq_topic: str,
                clock: Clock = utcnow) -> ReplayPlan:
    plan = ReplayPlan()
    done = ledger.replayed(dlq_topic)
    candidates = []
    for letter in letters:
        if (letter.partition, letter.offset) in done:
            plan.already_replayed.append(letter)
        elif not letter.failure.get(fh.ORIGINAL_TOPIC):
            plan.no_origin.append(letter)
        else:
            candidates.append(republish_of(letter, codec, clock))
    sent = ledger.sent({r.delivery_id for r in candidates if r.delivery_id})
    for republish in candidates:
        (plan.already_sent if republish.delivery_id in sent else plan.replay).append(republish)
    return plan


@dataclass
class ReplayResult:
    replayed: int = 0
    failures: list[str] = field(default_factory=list)


def execute_replay(plan: ReplayPlan, publisher: Publisher, ledger: ReplayLedger, codec: Codec,
                   deliveries_topic: str, pacer: RatePacer, advance: Callable[[], None] = lambda: None,
                   flush_timeout_s: float = 60.0) -> ReplayResult:
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

    for republish in plan.replay:
        pacer.wait()
        settled, acked = threading.Event(), []
        publisher.publish_sync(republish.topic, republish.value, key=republish.letter.key,
                               headers=republish.headers, on_delivery=on_republished(republish, settled, acked))
        if publisher.flush(flush_timeout_s) or not settled.wait(flush_timeout_s):
            failures.append(f"{republish.letter.position} -> {republish.topic}: not acknowledged within "
                            f"{flush_timeout_s:.0f}s")
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


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False
