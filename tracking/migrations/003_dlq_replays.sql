-- The dead-letter replay ledger: one row per dead-letter message `tidings dlq replay` has
-- re-published (written after the broker acknowledged it), so a rerun skips what is done.

CREATE TABLE dlq_replays (
    dlq_topic        text NOT NULL,
    dlq_partition    integer NOT NULL,
    dlq_offset       bigint NOT NULL,
    original_topic   text NOT NULL,
    notification_id  text,
    delivery_id      text,
    replay           integer,
    replayed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);

CREATE INDEX dlq_replays_delivery_id_idx ON dlq_replays (delivery_id);
