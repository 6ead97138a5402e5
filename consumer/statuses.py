"""Delivery statuses: the vocabulary of DeliveryEvents, shared by the tracking sink's current-state
fold and stats, the gateway, and the channel workers that judge fallback steps."""

# What a provider reports after `sent` (tracking/receipts.py), recorded as DeliveryEvents too.
RECEIPT_STATUSES = ("delivered", "undelivered", "bounced", "complained")

# Every status a DeliveryEvent may carry today. The sink stores unknown statuses as they come
# (a newer producer may know more); only finality changes how they fold.
STATUSES = (
    "queued",
    "sent",
    "failed",
    "retry_scheduled",
    "dead_lettered",
    "suppressed",
    "expired",
    "replayed",
    "scheduled",   # held by the router until the notification's send_at (consumer/holds.py)
    "deferred",    # held by the router until the end of the recipient's quiet hours
    "cancelled",   # a held delivery whose notification was cancelled before it went out
    "digested",    # folded into a digest until it closes (router/digests.py); `sent` once the digest is sent
    *RECEIPT_STATUSES,
)

# A delivery in one of these states needs nothing more from the pipeline. 'failed' is a failure
# with no retry path; 'dead_lettered' one that exhausted its retry tiers (or was rejected by a
# stage) and waits in the DLQ. 'replayed' is not final: replaying a dead letter reopens the delivery.
# Receipt statuses are final too, so under the fold's rule (within a replay the latest final event
# wins) a receipt replaces `sent` as the current status: the gateway publishes it only once `sent`
# is recorded, stamped no earlier than just after it (gateway/receipts.py), and among receipts the
# provider's times decide (delivered, then complained).
FINAL_STATUSES = frozenset({"sent", "failed", "dead_lettered", "suppressed", "expired", "cancelled",
                            *RECEIPT_STATUSES})

# The provider took the delivery: `sent`, or `sent` and then a receipt.
SENT_STATUSES = ("sent", *RECEIPT_STATUSES)
# A receipt confirmed it reached the recipient (a complaint too: it was received, then reported).
DELIVERED_STATUSES = ("delivered", "complained")

# Held until due_at: `tidings_held_deliveries` counts them, and the overdue ones.
HELD_STATUSES = ("scheduled", "deferred", "digested")
