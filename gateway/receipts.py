"""Receipts into the delivery log. `ingest` stores what a provider reported, each report once; then
`settle` matches stored receipts to their deliveries once those are recorded `sent`, publishes each
as a DeliveryEvent on the deliveries topic (the sink records it) and applies it to the tenant's
suppression list. Every receipt endpoint (Twilio's here, SNS/SES, bounce reports) calls `ingest`;
`match_forever` settles, every few seconds, the receipts that arrived before their `sent`."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from consumer.events import DELIVERY, delivery_event
from gateway.errors import ApiError
from gateway.rate_limits import RateLimited, take
from gateway.settings import GatewaySettings
from router.recipients import RecipientDirectory
from router.suppressions import SuppressionInvalid, SuppressionList
from tracking import receipt_store
from tracking.receipt_store import Matched
from tracking.receipts import (COMPLAINT, DELIVERED, HARD_BOUNCE, SOFT_BOUNCE, UNREACHABLE, Receipt, listing,
                               receipt_event_id)

log = logging.getLogger(__name__)

# Receipts settled per transaction (each one DeliveryEvent and a suppression-list call).
BATCH = 500
# How long a callback waits for its receipt to be published before answering: stored is enough,
# the matcher publishes what this leaves (a broker away must not hold the provider's request).
SETTLE_WITHIN_S = 5.0
# A receipt matching nothing yet is tried again after the match interval, doubling up to this.
MOST_DEFERRAL_S = 900.0
DEFAULT_TENANT = "default"  # a notification's tenant when its producer names none
# A receipt's event is stamped at least this long after the `sent` it follows, so it folds and
# reads after it (DeliveryEvent times are whole milliseconds).
AFTER_SENT = timedelta(milliseconds=1)


async def ingest(gateway, receipts: list[Receipt]) -> dict:
    """Store the receipts (a report already stored is a duplicate: nothing more happens), then
    settle the new ones whose delivery is known. Counts: received, recorded (new), duplicates,
    invalid (cannot be stored: see tracking/receipt_store.py's `problem`), matched (published now)
    and waiting (kept until their delivery is recorded `sent`)."""
    valid, invalid = [], 0
    for receipt in receipts:
        if (problem := receipt_store.problem(receipt)) is None:
            valid.append(receipt)
        else:
            invalid += 1
            log.warning("receipt %.80r from %s not stored: %s", receipt.receipt_id, receipt.source, problem)
    async with gateway.pool.connection() as conn:
        new = await receipt_store.store(conn, valid, gateway.clock())
    fresh, stored = set(new), {receipt.receipt_id for receipt in valid}
    for receipt in receipts:
        if receipt.receipt_id in fresh:
            outcome = "recorded"
            fresh.discard(receipt.receipt_id)  # the same report twice in one call: the second is a duplicate
        else:
            outcome = "duplicate" if receipt.receipt_id in stored else "invalid"
        gateway.metrics.receipt_callbacks.labels(receipt.source, outcome).inc()
    matched = 0
    if new:
        try:
            async with asyncio.timeout(SETTLE_WITHIN_S):
                matched = (await settle(gateway, new))["matched"]
        except Exception as exc:  # stored: the matcher publishes it when the broker or Postgres is back
            log.warning("receipts stored but not settled yet (%s: %s); the matcher will", type(exc).__name__, exc)
    return {"received": len(receipts), "recorded": len(new), "duplicates": len(valid) - len(new),
            "invalid": invalid, "matched": matched, "waiting": len(new) - matched}


async def settle(gateway, ids: list[str] | None = None) -> dict:
    """Publish and apply the due stored receipts (of `ids`, if given) whose delivery is recorded
    `sent`, a batch per transaction; put off the others. Counts: matched, deferred."""
    own = gateway.settings.section(GatewaySettings)
    matched = deferred = 0
    while True:
        now = gateway.clock()
        async with gateway.pool.connection() as conn:
            async with conn.transaction():
                batch, unmatched = await receipt_store.claim(conn, now, BATCH, ids)
                if batch:
                    await _record(gateway, batch)
                    await receipt_store.mark_recorded(conn, batch, now)
                await receipt_store.defer(conn, unmatched, now, own.gateway_receipt_match_interval_s, MOST_DEFERRAL_S)
        for item in batch:  # committed: counted once, whichever gateway took it
            r = item.receipt
            gateway.metrics.receipts.labels(r.channel, r.source, r.status, r.bounce or "").inc()
        matched, deferred = matched + len(batch), deferred + len(unmatched)
        if len(batch) + len(unmatched) < BATCH:  # every due receipt was looked at
            return {"matched": matched, "deferred": deferred}


async def _record(gateway, batch: list[Matched]) -> None:
    """Publish the receipts' DeliveryEvents (acknowledged), then apply them to the suppression
    lists; an error leaves every one of them to the next round (the event ids make a second
    publication a no-op in the sink, and listing an address twice changes nothing)."""
    events = [delivery_event_of(item) for item in batch]
    await asyncio.gather(*(gateway.publisher.publish(gateway.topics.deliveries, gateway.codec.encode(DELIVERY, event),
                                                     key=event["delivery_id"]) for event in events))
    listed = await gateway.blocking(lambda conn: apply_listings(conn, batch, gateway.settings, gateway.clock))
    for channel, reason in listed:
        gateway.metrics.receipt_listings.labels(channel, reason).inc()


def delivery_event_of(item: Matched) -> dict:
    """The receipt as a DeliveryEvent of its delivery: its status, the bounce kind as the reason,
    the provider's error code as error_class, the source as provider; its id from the receipt's."""
    r, d = item.receipt, item.delivery
    at = max(r.occurred_at, d["sent_at"] + AFTER_SENT)
    message = {"delivery_id": d["delivery_id"], "notification_id": d["notification_id"], "channel": d["channel"],
               "priority": d["priority"], "recipient_id": d["recipient_id"], "source": d["source"],
               "tenant": d["tenant"], "category": d["category"], "replay": d["replay"]}
    return delivery_event(message, r.status, clock=lambda: at, attempt=d["attempts"],
                          event_id=receipt_event_id(r.receipt_id), provider=r.source,
                          provider_message_id=d["provider_message_id"] or r.provider_message_id,
                          error_class=r.error_code, error_message=r.detail, reason=r.bounce)


def apply_listings(conn, batch: list[Matched], settings, clock) -> list[tuple[str, str]]:
    """Each receipt's effect on its tenant's suppression list (tracking/receipts.py `listing`): the
    address from the receipt, else the recipient directory's for the channel. (channel, reason) of
    every address newly listed."""
    suppressions = SuppressionList.from_settings(conn, settings, clock)
    todo = [(item, action) for item in batch if (action := listing(item.receipt)) is not None]
    unnamed = [item.delivery["recipient_id"] for item, _ in todo
               if not item.receipt.address and item.delivery["recipient_id"]]
    directory = RecipientDirectory(conn).lookup(unnamed) if unnamed else {}
    listed = []
    for item, action in todo:
        r, d = item.receipt, item.delivery
        address = r.address or (directory.get(d["recipient_id"]) or {}).get("addresses", {}).get(r.channel)
        if not address:
            log.info("receipt %s (%s): no address to list for delivery %s", r.receipt_id, action, d["delivery_id"])
            continue
        tenant, source = d["tenant"] or DEFAULT_TENANT, f"provider:{r.source}"
        detail = " ".join(part for part in (r.error_code, r.detail) if part) or None
        try:
            if action in (HARD_BOUNCE, COMPLAINT, UNREACHABLE):
                _, new = suppressions.suppress(tenant, r.channel, address, action, source, detail=detail,
                                               at=r.occurred_at)
                if new:
                    listed.append((r.channel, action))
            elif action == SOFT_BOUNCE:
                if suppressions.soft_bounce(tenant, r.channel, address, r.occurred_at, receipt=d["delivery_id"],
                                            source=source, detail=detail) is not None:
                    listed.append((r.channel, "soft_bounces"))
            elif action == DELIVERED:
                suppressions.delivered(tenant, r.channel, address)
        except SuppressionInvalid as exc:  # an address its channel cannot have: nothing to list
            log.warning("receipt %s: %s address not listed: %s", r.receipt_id, r.channel, exc)
    return listed


async def match_forever(gateway) -> None:
    """Settle the waiting receipts every TIDINGS_GATEWAY_RECEIPT_MATCH_INTERVAL_S and export how
    many wait (the housekeeping gives up on those older than the match window)."""
    own = gateway.settings.section(GatewaySettings)
    while True:
        try:
            await settle(gateway)
            async with gateway.pool.connection() as conn:
                gateway.metrics.receipts_waiting.set(await receipt_store.waiting(conn))
        except Exception:  # the broker or Postgres away: the receipts wait in Postgres meanwhile
            log.warning("receipt matching failed; will retry", exc_info=True)
        await asyncio.sleep(own.gateway_receipt_match_interval_s)


async def within_allowance(gateway, source: str) -> None:
    """Take one receipt from the source's allowance (TIDINGS_GATEWAY_RECEIPT_RATE_LIMIT, shared by
    every gateway process); 429 with Retry-After beyond it, and nothing is recorded."""
    try:
        async with gateway.pool.connection() as conn:
            await take(conn, gateway.receipt_limits, f"receipts:{source}", {"receipts": 1}, gateway.clock())
    except RateLimited as exc:
        gateway.metrics.receipt_callbacks.labels(source, "rate_limited").inc()
        raise ApiError(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
