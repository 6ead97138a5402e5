-- Daily partitions for the delivery log, so `tidings db prune` drops whole days instead of
-- deleting rows, plus time-range indexes and the current status per notification.
--
-- A unique index on a partitioned table must include the partition key (occurred_at), but a
-- redone DeliveryEvent keeps its event_id with a new occurred_at. So idempotency moves to a narrow
-- ledger, delivery_event_ids, which the sink inserts into first (tracking/store.py).

CREATE TABLE delivery_event_ids (
    event_id    uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX delivery_event_ids_occurred_at_idx ON delivery_event_ids (occurred_at);

ALTER TABLE delivery_events RENAME TO delivery_events_unpartitioned;
ALTER INDEX delivery_events_pkey RENAME TO delivery_events_unpartitioned_pkey;
ALTER INDEX delivery_events_notification_id_idx RENAME TO delivery_events_unpartitioned_notification_id_idx;
ALTER INDEX delivery_events_delivery_id_idx RENAME TO delivery_events_unpartitioned_delivery_id_idx;
ALTER INDEX delivery_events_occurred_at_idx RENAME TO delivery_events_unpartitioned_occurred_at_idx;

-- Same columns in the same order (the sink's staging table copies them).
CREATE TABLE delivery_events (LIKE delivery_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (occurred_at);

-- Few indexes: each costs the sink a write per event. Event ids are looked up in the ledger.
CREATE INDEX delivery_events_notification_id_idx ON delivery_events (notification_id, occurred_at);
CREATE INDEX delivery_events_delivery_id_idx ON delivery_events (delivery_id, occurred_at);
CREATE INDEX delivery_events_occurred_at_idx ON delivery_events (occurred_at);

-- One partition per UTC day, named delivery_events_YYYYMMDD; only the days given, so one event
-- with a wild clock creates one partition, not a range of thousands. Safe to call concurrently.
CREATE FUNCTION tidings_ensure_event_partitions(days date[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day     date;
    created integer := 0;
    name    text;
BEGIN
    PERFORM pg_advisory_xact_lock(7564531868283955);
    FOREACH day IN ARRAY days LOOP
        name := 'delivery_events_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF delivery_events FOR VALUES FROM (%L) TO (%L)',
                name, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

SELECT tidings_ensure_event_partitions(coalesce(array_agg(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date),
                                                '{}'::date[]))
FROM delivery_events_unpartitioned;

INSERT INTO delivery_events SELECT * FROM delivery_events_unpartitioned;
INSERT INTO delivery_event_ids (event_id, occurred_at)
    SELECT event_id, occurred_at FROM delivery_events_unpartitioned;
DROP TABLE delivery_events_unpartitioned;

-- Time-range queries over the current state (`tidings stats --since`).
CREATE INDEX deliveries_first_event_at_idx ON deliveries (first_event_at);
CREATE INDEX deliveries_last_event_at_idx ON deliveries (last_event_at);

-- The current status of each notification, from its deliveries: pending while any delivery is
-- not final; then delivered (all sent), partially_delivered (some sent) or undelivered.
CREATE VIEW notification_status AS
SELECT notification_id,
       CASE WHEN bool_or(NOT status = ANY ('{sent,failed,dead_lettered,suppressed,expired}')) THEN 'pending'
            WHEN bool_and(status = 'sent') THEN 'delivered'
            WHEN bool_or(status = 'sent') THEN 'partially_delivered'
            ELSE 'undelivered' END AS status,
       count(*) AS deliveries,
       count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status IN ('failed', 'dead_lettered')) AS failed,
       count(*) FILTER (WHERE status = 'suppressed') AS suppressed,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       min(first_event_at) AS created_at,
       max(last_event_at) AS updated_at
FROM deliveries
GROUP BY notification_id;
