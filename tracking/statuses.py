"""Delivery statuses as the tracking sink understands them.

Shared by the delivery log's current-state fold and the stats queries.
"""

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
)

# A delivery in one of these states needs nothing more from the pipeline. 'failed' is a failure
# with no retry path; 'dead_lettered' one that exhausted its retry tiers (or was rejected by a
# stage) and waits in the DLQ. 'replayed' is not final: replaying a dead letter reopens the delivery.
FINAL_STATUSES = frozenset({"sent", "failed", "dead_lettered", "suppressed", "expired", "cancelled"})

# Held until due_at: `tidings_held_deliveries` counts them, and the overdue ones.
HELD_STATUSES = ("scheduled", "deferred")
