-- The HTTP gateway's state: the append-only audit log of every mutating call, Idempotency-Key
-- claims, rate-limit state per (principal, channel), and the last status seen per Alertmanager group.

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    request_id  text NOT NULL,
    principal   text,
    action      text NOT NULL,
    target      text,
    outcome     text NOT NULL,
    status_code integer NOT NULL,
    detail      text
);

CREATE INDEX audit_log_at_idx ON audit_log (at);

-- Append-only: rows can be added, never changed or removed (not even by the gateway's own role).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- One row per (principal, Idempotency-Key): the hash of the request it answered and, once the
-- broker acknowledged the events, the response (NULL while the first request is in progress).
CREATE TABLE gateway_idempotency (
    principal    text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

CREATE INDEX gateway_idempotency_created_at_idx ON gateway_idempotency (created_at);

-- GCRA rate limiting: the theoretical arrival time of the next request per principal and channel.
CREATE TABLE gateway_rate_limits (
    principal text NOT NULL,
    channel   text NOT NULL,
    tat       timestamptz NOT NULL,
    PRIMARY KEY (principal, channel)
);

-- Alertmanager dedup on groupKey + status: a group notifies when its status changes.
CREATE TABLE alertmanager_groups (
    group_key  text PRIMARY KEY,
    status     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
