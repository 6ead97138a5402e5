-- Digests (issue 19): the router folds the deliveries of one recipient, channel and key within a
-- window into one message (router/digests.py); the channel worker sends it once when its close
-- marker comes due (channels/digest_closes.py). Postgres holds what is folded so far.

-- One window of one recipient, channel and key. digest_id = uuid5(tenant, recipient, channel, key,
-- opened_at); it is also the digest message's delivery id and notification id. `message` is the
-- digest's ChannelMessage (Avro, as on the channel topics), re-rendered by the router at each item.
-- closed_at is set once, by the worker that sends it; the router adds items only to an open digest
-- (under an advisory lock per recipient, channel and key, and the row lock the close takes).
CREATE TABLE IF NOT EXISTS digests (
    digest_id uuid PRIMARY KEY,
    tenant text,
    recipient_id text NOT NULL,
    channel text NOT NULL,
    digest_key text NOT NULL,
    opened_at timestamptz NOT NULL,
    closes_at timestamptz NOT NULL,
    closed_at timestamptz,
    item_count integer NOT NULL DEFAULT 0,
    message bytea
);
CREATE INDEX IF NOT EXISTS digests_open ON digests (recipient_id, channel, digest_key) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS digests_closed_at ON digests (closed_at);

-- The folded deliveries: one row per delivery id, so an event routed again adds nothing. `item`
-- holds what the digest template sees of it and what the `sent` record of it needs.
CREATE TABLE IF NOT EXISTS digest_items (
    delivery_id uuid PRIMARY KEY,
    digest_id uuid NOT NULL REFERENCES digests (digest_id) ON DELETE CASCADE,
    notification_id uuid NOT NULL,
    added_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    item jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS digest_items_digest_id ON digest_items (digest_id, added_at);
