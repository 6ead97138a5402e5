-- Channel fallback (issue 19): a later step of an event's `fallback` is a held delivery
-- (019_held_deliveries.sql) that the channel worker, when it comes due, takes or skips once
-- (channels/fallback_goals.py). The claim keeps which: a copy redone at the same position after a
-- crash repeats the verdict instead of judging again (an inbox item marked unread since).
ALTER TABLE held_releases ADD COLUMN IF NOT EXISTS outcome text NOT NULL DEFAULT 'released';  -- released | not_needed

-- A step that was not needed (`cancelled` with reason fallback_not_needed: an earlier step reached
-- its goal) leaves the notification delivered, not partially delivered: it was meant not to go.
CREATE OR REPLACE VIEW notification_status AS
SELECT notification_id,
       CASE WHEN bool_or(NOT status = ANY ('{sent,failed,dead_lettered,suppressed,expired,delivered,undelivered,bounced,complained,cancelled}'))
                THEN 'pending'
            WHEN bool_and(status = ANY ('{sent,delivered,complained}') OR reason IS NOT DISTINCT FROM 'fallback_not_needed')
                 AND bool_or(status = ANY ('{sent,delivered,complained}')) THEN 'delivered'
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
