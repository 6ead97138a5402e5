-- The delivery log at 20 million events (issue 21; bench.sink_scale measures it).

-- `tidings stats`: two of its three queries read every delivery of the window (about 260,000 a
-- day at that size) to count the few they are about. Both indexes hold only those few rows, so
-- the sink writes an entry for about one event in ten.
--   Suppressed by reason: the window's suppressed deliveries (final: a row enters once).
CREATE INDEX IF NOT EXISTS deliveries_suppressed_first_event_at_idx ON deliveries (first_event_at)
    WHERE status = 'suppressed';
--   Retries by tier: the window's retry_scheduled events, not every event since its start.
CREATE INDEX IF NOT EXISTS delivery_events_retry_scheduled_idx ON delivery_events (occurred_at)
    WHERE status = 'retry_scheduled';

-- Two indexes the sink wrote an entry into for every event (the deliveries one for every change of
-- a delivery) that no query needs: one delivery's events are found through its notification
-- (tracking.stats.delivery_story), and pruning finds old deliveries by first_event_at (a delivery
-- last changed before the cut-off was created before it). About 3 us of Postgres CPU per event
-- recorded, and at 20M events one random page fewer per event.
DROP INDEX IF EXISTS delivery_events_delivery_id_idx;
DROP INDEX IF EXISTS deliveries_last_event_at_idx;
