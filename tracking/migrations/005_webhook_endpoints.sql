-- Webhook endpoints disabled because they answered 410 Gone (channels/webhook_endpoints.py).
-- Deliveries to a disabled URL are suppressed (reason `endpoint_disabled`) until
-- `tidings endpoints enable URL` deletes the row.

CREATE TABLE disabled_webhook_endpoints (
    url          text PRIMARY KEY,
    disabled_at  timestamptz NOT NULL DEFAULT now(),
    status_code  integer NOT NULL,
    reason       text NOT NULL,
    delivery_id  uuid
);
