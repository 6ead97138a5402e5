"""What a channel worker does with the held messages of a batch (consumer/holds.py), decided in one
Postgres round trip: a cancelled notification's are dropped (`cancelled`), a not-yet-due one rides
its next leg, and a due one is released once: the first copy to come due claims the delivery, and
a copy from another position (a leg redone after a crash) is dropped. A due channel fallback step
is judged before it is claimed (channels/fallback_goals.py): released, or `not_needed` when an
earlier step reached its goal; the claim keeps that outcome, so a step is taken or skipped once.
Messages without a hold never come here, so an ordinary send costs nothing extra."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg
from confluent_kafka import Message

from channels.fallback_goals import StepVerdict, judge_step, records
from consumer import failure_headers as h
from consumer.events import Clock
from consumer.holds import Hold, HeldMessage, hold_of
from consumer.postgres import connect_async

log = logging.getLogger(__name__)

WAIT, CANCELLED, DUPLICATE, RELEASE, NOT_NEEDED = "wait", "cancelled", "duplicate", "release", "not_needed"
RELEASED = "released"  # held_releases.outcome of a delivery that went out (else NOT_NEEDED)

# The same lock key as tracking/cancellations.py: a cancel and a release of one notification never
# cross (the second one sees the first).
LOCK = "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(n, 19) AS k " \
       "FROM unnest(%s::text[]) AS n ORDER BY k) AS keys"
_CANCELLED = "SELECT notification_id::text, cancelled_by, cancelled_at FROM cancellations " \
             "WHERE notification_id = ANY(%s::uuid[])"
_CLAIM = "INSERT INTO held_releases (delivery_id, notification_id, position, outcome) " \
         "SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::text[]) ON CONFLICT (delivery_id) DO NOTHING"
_CLAIMED = "SELECT delivery_id::text, position, outcome FROM held_releases WHERE delivery_id = ANY(%s::uuid[])"


@dataclass(frozen=True)
class Verdict:
    action: str  # wait | cancelled | duplicate | release | not_needed
    hold: Hold
    detail: str = ""  # why (cancelled, duplicate, a fallback step taken or not needed)


class HeldReleases:
    """One connection, made when first needed; batches take turns on it. Without a database
    nothing can be cancelled and every due copy goes out."""

    def __init__(self, database_url: str | None, clock: Clock):
        self.database_url = database_url
        self.clock = clock
        self.conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def judge(self, messages: list[Message]) -> dict[int, Verdict]:
        """id(message) -> its verdict, for the held messages among `messages`."""
        now = self.clock()
        held = [(m, found) for m in messages if (found := hold_of(m)) is not None]
        if not held:
            return {}
        if not self.database_url:
            return {id(m): Verdict(WAIT if found.hold.until > now else RELEASE, found.hold) for m, found in held}
        due = [Due(found, _position(m)) for m, found in held if found.hold.until <= now]
        cancelled, claimed, steps = await self._ask([found.notification_id for _, found in held], due)
        verdicts = {}
        for message, found in held:
            hold, position = found.hold, _position(message)
            claimed_from, outcome = claimed.get(found.delivery_id, (position, RELEASED))
            step = steps.get(found.delivery_id)
            if found.notification_id in cancelled:
                by, at = cancelled[found.notification_id]
                verdicts[id(message)] = Verdict(CANCELLED, hold, f"cancelled by {by} at {h.iso(at)}")
            elif hold.until > now:
                verdicts[id(message)] = Verdict(WAIT, hold)
            elif claimed_from != position:
                verdicts[id(message)] = Verdict(DUPLICATE, hold, f"released from {claimed_from}")
            elif outcome == NOT_NEEDED:
                verdicts[id(message)] = Verdict(NOT_NEEDED, hold, step.why if step and not step.needed else "")
            else:
                verdicts[id(message)] = Verdict(RELEASE, hold, step.why if step and step.needed else "")
        return verdicts

    async def _ask(self, notification_ids: list[str], due: list["Due"]
                   ) -> tuple[dict[str, tuple[str, datetime]], dict[str, tuple[str, str]], dict[str, StepVerdict]]:
        """The cancellations among the notifications, and (under their locks) the claims (position,
        outcome) of the due deliveries that are not cancelled, this batch's included, with the
        verdicts on the fallback steps among them."""
        async with self._lock:
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = await connect_async(self.database_url)
            async with self.conn.transaction():
                if due:  # only a release needs the lock; a leg that misses a cancel sees it next time
                    await self.conn.execute(LOCK, [sorted({d.held.notification_id for d in due})])
                rows = await (await self.conn.execute(_CANCELLED, [notification_ids])).fetchall()
                cancelled = {n: (by, at) for n, by, at in rows}
                due = [d for d in due if d.held.notification_id not in cancelled]
                if not due:
                    return cancelled, {}, {}
                # Judged under the lock, before the claim: the first copy's verdict is the one kept.
                steps = [d.held for d in due if d.held.hold.step is not None]
                known = await records(self.conn, [s.notification_id for s in steps]) if steps else {}
                verdicts = {s.delivery_id: judge_step(s.channel, s.hold.step, known.get(s.notification_id, []))
                            for s in steps}
                await self.conn.execute(_CLAIM, [
                    [d.held.delivery_id for d in due], [d.held.notification_id for d in due],
                    [d.position for d in due],
                    [NOT_NEEDED if d.held.delivery_id in verdicts and not verdicts[d.held.delivery_id].needed
                     else RELEASED for d in due]])
                rows = await (await self.conn.execute(_CLAIMED, [[d.held.delivery_id for d in due]])).fetchall()
        return cancelled, {d: (p, o) for d, p, o in rows}, verdicts

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


@dataclass(frozen=True)
class Due:
    """A held message that came due, as the claim needs it."""

    held: HeldMessage
    position: str


def _position(message: Message) -> str:
    return f"{message.topic()}/{message.partition()}/{message.offset()}"
