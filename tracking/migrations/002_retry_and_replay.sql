-- DeliveryEvent v2: the retry tier and due time of a retry_scheduled, the stage and reason of a
-- dead_lettered,
-- and how many times the delivery was replayed from the dead-letter topic. Additive only, so a
-- v1 sink keeps working against the migrated tables (its rows get NULL / 0).

ALTER TABLE delivery_events
    ADD COLUMN IF NOT EXISTS retry_tier text,
    ADD COLUMN IF NOT EXISTS due_at     timestamptz,
    ADD COLUMN IF NOT EXISTS stage      text,
    ADD COLUMN IF NOT EXISTS reason     text,
    ADD COLUMN IF NOT EXISTS replay     integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS latency_ms integer;

-- retry_tier, due_at, stage and reason are status columns: they come from the winning event, like
-- error_class (see tracking/store.py). replay is the highest seen; attempts now counts within
-- that latest replay.
ALTER TABLE deliveries
    ADD COLUMN IF NOT EXISTS retry_tier text,
    ADD COLUMN IF NOT EXISTS due_at     timestamptz,
    ADD COLUMN IF NOT EXISTS stage      text,
    ADD COLUMN IF NOT EXISTS reason     text,
    ADD COLUMN IF NOT EXISTS replay     integer NOT NULL DEFAULT 0;
