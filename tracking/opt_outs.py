"""Provider-side opt-outs (an SMS STOP reported by the provider) written into the same
`preferences` table the router reads, in the sink's batch transaction, so the next notification
is suppressed by the router instead of being refused by the provider."""
from __future__ import annotations

# From the batch's staging rows: a `suppressed` / `opted_out` event that names a provider came
# from a channel worker (the router's own opt-out suppressions carry no provider). A row changed
# after the event (the user opted back in) is left alone, so replaying old events changes nothing.
RECORD_PROVIDER_OPT_OUTS = """
INSERT INTO preferences AS p (recipient_id, channel, category, enabled, source, updated_at)
SELECT DISTINCT ON (recipient_id, channel) recipient_id, channel, '*', false, 'provider:' || provider, occurred_at
FROM delivery_events_staging
WHERE status = 'suppressed' AND reason = 'opted_out' AND provider IS NOT NULL AND recipient_id IS NOT NULL
ORDER BY recipient_id, channel, occurred_at DESC
ON CONFLICT (recipient_id, channel, category) DO UPDATE
    SET enabled = false, source = excluded.source, updated_at = excluded.updated_at
    WHERE p.updated_at < excluded.updated_at
"""
