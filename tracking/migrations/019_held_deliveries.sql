-- Held deliveries (issue 19): scheduled sends and quiet hours park a delivery on its channel's
-- retry tiers until a time (consumer/holds.py). Postgres keeps what the topics cannot: who cancelled
-- a notification, which copy of a held delivery went out, and each recipient's quiet hours.

-- `tidings cancel` and POST /v1/notifications/{id}/cancel: a held delivery of this notification
-- found here when it comes due (or at its next leg) records `cancelled` and is not sent.
CREATE TABLE IF NOT EXISTS cancellations (
    notification_id uuid PRIMARY KEY,
    tenant text,
    cancelled_by text NOT NULL,          -- cli, api:<subject>
    cancelled_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cancellations_cancelled_at ON cancellations (cancelled_at);

-- The one copy of a held delivery that went out when due (channels/held_releases.py): a copy
-- from another position (the router or a worker redid a leg after a crash) is dropped; the same
-- position (the worker died before committing) goes on. Cancel and release take the same
-- advisory lock per notification, so one of them wins.
CREATE TABLE IF NOT EXISTS held_releases (
    delivery_id uuid PRIMARY KEY,
    notification_id uuid NOT NULL,
    position text NOT NULL,              -- <topic>/<partition>/<offset>
    released_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS held_releases_notification_id ON held_releases (notification_id);
CREATE INDEX IF NOT EXISTS held_releases_released_at ON held_releases (released_at);

-- Quiet hours per recipient and channel (* = every channel without a row of its own), in the
-- recipient's time zone: windows as router/quiet_hours.py writes them ("mon-fri 22:00-07:00",
-- "sat-sun"). An empty list is a channel that is never quiet although * is.
CREATE TABLE IF NOT EXISTS quiet_hours (
    recipient_id text NOT NULL,
    channel text NOT NULL,
    windows jsonb NOT NULL,
    source text NOT NULL DEFAULT 'user',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recipient_id, channel)
);

-- `cancelled` is final: a notification whose deliveries are all cancelled is no longer pending.
-- (CREATE OR REPLACE keeps the columns of migrations 008 and 018 and may only add new ones at the end.)
CREATE OR REPLACE VIEW notification_status AS
SELECT notification_id,
       CASE WHEN bool_or(NOT status = ANY ('{sent,failed,dead_lettered,suppressed,expired,delivered,undelivered,bounced,complained,cancelled}'))
                THEN 'pending'
            WHEN bool_and(status = ANY ('{sent,delivered,complained}')) THEN 'delivered'
            WHEN bool_or(status = ANY ('{sent,delivered,complained}')) THEN 'partially_delivered'
            WHEN bool_and(status = 'cancelled') THEN 'cancelled'
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
       count(*) FILTER (WHERE status = 'complained') AS complained,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM deliveries
GROUP BY notification_id;
