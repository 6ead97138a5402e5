-- The delivery log: every DeliveryEvent once (idempotent on event_id), plus the folded current
-- state of each delivery. Status is plain text, not an enum, so new statuses need no migration.

CREATE TABLE delivery_events (
    event_id            uuid PRIMARY KEY,
    notification_id     uuid NOT NULL,
    delivery_id         uuid NOT NULL,
    channel             text NOT NULL,
    priority            text NOT NULL,
    provider            text,
    status              text NOT NULL,
    attempt             integer NOT NULL,
    status_code         integer,
    error_class         text,
    error_message       text,
    provider_message_id text,
    cost                numeric(18, 6),
    cost_currency       text,
    recipient_id        text,
    source              text,
    tenant              text,
    category            text,
    occurred_at         timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delivery_events_notification_id_idx ON delivery_events (notification_id);
CREATE INDEX delivery_events_delivery_id_idx ON delivery_events (delivery_id);
CREATE INDEX delivery_events_occurred_at_idx ON delivery_events (occurred_at);

-- One row per delivery. The status columns (status .. provider_message_id) come from the event
-- with the greatest (occurred_at, status is final, event_id); see tracking/store.py. status_at and
-- status_event_id keep that event's key so a later batch can be compared against it.
-- The aggregate columns (first/last_event_at, attempts, cost, event_count) cover all events.
CREATE TABLE deliveries (
    delivery_id         uuid PRIMARY KEY,
    notification_id     uuid NOT NULL,
    channel             text NOT NULL,
    priority            text NOT NULL,
    recipient_id        text,
    source              text,
    tenant              text,
    category            text,
    status              text NOT NULL,
    status_at           timestamptz NOT NULL,
    status_event_id     uuid NOT NULL,
    status_code         integer,
    error_class         text,
    error_message       text,
    provider            text,
    provider_message_id text,
    attempts            integer NOT NULL,
    cost                numeric(18, 6),
    cost_currency       text,
    event_count         integer NOT NULL,
    first_event_at      timestamptz NOT NULL,
    last_event_at       timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX deliveries_status_idx ON deliveries (status);
CREATE INDEX deliveries_notification_id_idx ON deliveries (notification_id);
