-- Receipts (issue 20): what providers report after `sent` (Twilio status callbacks, SNS/SES
-- notifications, RFC 3464 bounce reports), each stored once and matched to its delivery, then
-- recorded as a DeliveryEvent (delivered, undelivered, bounced, complained). See tracking/receipts.py.

-- One row per provider report: receipt_id is the provider's own identity of the report, so a
-- retried callback inserts nothing. A receipt waits here until its delivery has been recorded `sent`
-- (it may arrive first); the gateway's matcher retries it with a growing delay (next_match_at).
CREATE TABLE IF NOT EXISTS receipts (
    receipt_id          text PRIMARY KEY,
    source              text NOT NULL,          -- twilio | sns | ses | dsn
    channel             text NOT NULL,
    status              text NOT NULL,          -- delivered | undelivered | bounced | complained
    bounce              text,                   -- hard | soft, for bounced
    occurred_at         timestamptz NOT NULL,   -- the provider's time, else when it was received
    provider_message_id text,                   -- matched against deliveries.provider_message_id
    delivery_id         uuid,                   -- or the delivery itself (a VERP return path)
    address             text,
    error_code          text,
    detail              text,
    received_at         timestamptz NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,   -- matches tried and missed
    next_match_at       timestamptz NOT NULL,
    matched_delivery_id uuid,
    recorded_at         timestamptz             -- published as a DeliveryEvent; NULL while it waits
);
-- What the matcher looks at: the waiting ones that are due, and those waiting too long to keep
-- (few: partial indexes stay small however many receipts were recorded).
CREATE INDEX IF NOT EXISTS receipts_waiting ON receipts (next_match_at) WHERE recorded_at IS NULL;
CREATE INDEX IF NOT EXISTS receipts_waiting_since ON receipts (received_at) WHERE recorded_at IS NULL;
-- Retention (`tidings db prune`).
CREATE INDEX IF NOT EXISTS receipts_received_at ON receipts (received_at);

-- A receipt names its delivery by the id the provider answered at send time.
CREATE INDEX IF NOT EXISTS deliveries_provider_message_id_idx ON deliveries (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- When the delivery was (last) sent: a receipt's status replaces `sent` as the current status (and
-- status_at), but statistics measure created-to-sent latency, and receipts are stamped after it.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS sent_at timestamptz;
UPDATE deliveries SET sent_at = status_at WHERE status = 'sent' AND sent_at IS NULL;

-- The notification's status with the receipt statuses: a delivery that was sent and not reported
-- undelivered or bounced counts as delivered (`sent` means the provider took it and said nothing
-- more, as before); `sent` counts every delivery the provider took. The new columns, what receipts
-- said went wrong, come last (CREATE OR REPLACE VIEW can only append).
CREATE OR REPLACE VIEW notification_status AS
SELECT notification_id,
       CASE WHEN bool_or(NOT status = ANY ('{sent,failed,dead_lettered,suppressed,expired,delivered,undelivered,bounced,complained}'))
                THEN 'pending'
            WHEN bool_and(status = ANY ('{sent,delivered,complained}')) THEN 'delivered'
            WHEN bool_or(status = ANY ('{sent,delivered,complained}')) THEN 'partially_delivered'
            ELSE 'undelivered' END AS status,
       count(*) AS deliveries,
       count(*) FILTER (WHERE status = ANY ('{sent,delivered,undelivered,bounced,complained}')) AS sent,
       count(*) FILTER (WHERE status IN ('failed', 'dead_lettered')) AS failed,
       count(*) FILTER (WHERE status = 'suppressed') AS suppressed,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       min(first_event_at) AS created_at,
       max(last_event_at) AS updated_at,
       count(*) FILTER (WHERE status = 'undelivered') AS undelivered,
       count(*) FILTER (WHERE status = 'bounced') AS bounced,
       count(*) FILTER (WHERE status = 'complained') AS complained
FROM deliveries
GROUP BY notification_id;
