"""Whether a channel fallback step that came due is still needed, decided by the channel worker's
held-release judge (channels/held_releases.py) from what the delivery log and the inbox hold: the
previous step reached the step's `unless` goal, or any earlier step was read or delivered, and it is not.

The goals: `sent` (the provider took it: sent or any receipt), `delivered` (a receipt said so:
delivered, complained) and `read` (the in-app inbox item has read_at, or a `read` DeliveryEvent was
recorded). A read implies the lesser goals. What the sink has not recorded yet counts as not reached."""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

from consumer.holds import FallbackStep
from consumer.statuses import DELIVERED_STATUSES, SENT_STATUSES

NOT_NEEDED = "fallback_not_needed"  # the reason recorded on a skipped step (status `cancelled`)
TAKEN = "fallback_taken"            # the reason on the `queued` record of a step that goes out
INBOX_CHANNEL = "inapp"             # the channel whose deliveries are inbox items

# Every delivery of the notifications, and what was read, from the log and from the inbox itself
# (the gateway writes read_at before the sink records its `read` event; the inbox item is found
# through its delivery's row, since a delivery id is derived from its notification's created_at too).
_RECORDS = """
SELECT notification_id::text, channel, status, reason, false FROM deliveries WHERE notification_id = ANY(%(n)s::uuid[])
UNION ALL
SELECT DISTINCT notification_id::text, channel, 'read', NULL, true FROM delivery_events
 WHERE notification_id = ANY(%(n)s::uuid[]) AND status = 'read'
UNION ALL
SELECT notification_id::text, %(inbox)s, 'read', NULL, true FROM inbox_items
 WHERE delivery_id IN (SELECT delivery_id FROM deliveries WHERE notification_id = ANY(%(n)s::uuid[])
                       AND channel = %(inbox)s)
   AND read_at IS NOT NULL
"""


@dataclass(frozen=True)
class Record:
    channel: str
    status: str
    reason: str | None
    read: bool


@dataclass(frozen=True)
class StepVerdict:
    needed: bool
    why: str


async def records(conn: psycopg.AsyncConnection, notification_ids: list[str]) -> dict[str, list[Record]]:
    """notification id -> what is known of its deliveries (one query for the batch)."""
    ids = sorted(set(notification_ids))
    rows = await (await conn.execute(_RECORDS, {"n": ids, "inbox": INBOX_CHANNEL})).fetchall()
    found: dict[str, list[Record]] = {n: [] for n in ids}
    for notification_id, channel, status, reason, read in rows:
        found.setdefault(notification_id, []).append(Record(channel, status, reason, read))
    return found


def judge_step(channel: str, step: FallbackStep, known: list[Record]) -> StepVerdict:
    """The step on `channel` is needed unless the chain already ended (an earlier step was read,
    delivered or itself not needed) or the previous step reached the step's goal."""
    earlier = [r for r in known if r.channel != channel]
    for record in earlier:
        if record.read:
            return StepVerdict(False, f"{record.channel} was read")
    for record in earlier:
        if record.status in DELIVERED_STATUSES:
            return StepVerdict(False, f"{record.channel} was {record.status} (a receipt)")
        if record.reason == NOT_NEEDED:
            return StepVerdict(False, f"the chain ended before: {record.channel} was not needed")
    previous = [r for r in earlier if r.channel == step.previous]
    if step.unless == "sent" and any(r.status in SENT_STATUSES for r in previous):
        return StepVerdict(False, f"{step.previous} was sent")
    shown = ", ".join(sorted({r.status for r in previous})) or "nothing recorded"
    return StepVerdict(True, f"step {step.number}: {step.previous} was not {step.unless} by then ({shown})")
