-- The in-app inbox (channels/inapp): one item per delivery of the inapp channel, per tenant and
-- recipient, with its read state. `seq` orders the feed and is the live stream's event id.
CREATE TABLE IF NOT EXISTS inbox_items (
    seq bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL UNIQUE,
    notification_id uuid NOT NULL,
    tenant text NOT NULL,
    recipient_id text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    body_html text,
    action_url text,
    data jsonb,
    category text NOT NULL,
    priority text NOT NULL,
    source text NOT NULL,
    created_at timestamptz NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz,
    read_at timestamptz,
    archived_at timestamptz
);
-- The feed, newest first, and the unread/unseen counts (most items are read: small partial indexes).
CREATE INDEX IF NOT EXISTS inbox_items_feed ON inbox_items (tenant, recipient_id, seq DESC);
CREATE INDEX IF NOT EXISTS inbox_items_unread ON inbox_items (tenant, recipient_id, seq DESC)
    WHERE read_at IS NULL AND archived_at IS NULL;
CREATE INDEX IF NOT EXISTS inbox_items_unseen ON inbox_items (tenant, recipient_id)
    WHERE seen_at IS NULL AND archived_at IS NULL;
-- Retention (`tidings db prune`).
CREATE INDEX IF NOT EXISTS inbox_items_delivered ON inbox_items (delivered_at);
CREATE INDEX IF NOT EXISTS inbox_items_archived ON inbox_items (archived_at) WHERE archived_at IS NOT NULL;
