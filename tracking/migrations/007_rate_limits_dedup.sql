-- Router state that must survive restarts and rebalances (router/dedup.py, router/rate_limits.py).
-- dedup_keys: the first sighting of each event id or idempotency key within the dedup window;
-- `position` (topic/partition/offset) tells a redelivery of that same message (processed again)
-- from a duplicate published twice (suppressed).
CREATE TABLE IF NOT EXISTS dedup_keys (
    key             text        PRIMARY KEY,   -- <topic prefix>|id:<uuid> or <prefix>|key:<tenant>/<source>/<key>
    notification_id uuid        NOT NULL,
    position        text        NOT NULL,
    seen_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_keys_seen_at ON dedup_keys (seen_at);

-- rate_limit_counters: notifications counted per limit counter and fixed window, e.g.
-- counter 'tidings|recipient:user-42:email|3600' for the window starting at 10:00.
CREATE TABLE IF NOT EXISTS rate_limit_counters (
    counter      text        NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (counter, window_start)
);
CREATE INDEX IF NOT EXISTS rate_limit_counters_window ON rate_limit_counters (window_start);
