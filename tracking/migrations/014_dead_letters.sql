-- The dead-letter topic as the tracking sink recorded it (tracking/dead_letters.py): one row per
-- message on <prefix>.dlq, so `tidings dlq list|show|replay` and GET /v1/dlq answer from here
-- instead of reading the topic. The values stay on the topic; a replay fetches them by offset.
CREATE TABLE dead_letters (
    dlq_topic          text        NOT NULL,
    dlq_partition      integer     NOT NULL,
    dlq_offset         bigint      NOT NULL,
    -- The tidings-* failure headers (consumer/failure_headers.py).
    stage              text,
    reason             text,
    error_class        text,
    error_message      text,
    channel            text,        -- tidings-channel, else from a channel-<name> stage
    notification_id    text,        -- the header, else the payload's
    delivery_id        text,        -- a ChannelMessage's, else the header's
    original_topic     text,
    original_partition integer,
    original_offset    bigint,
    attempt            integer,
    dead_lettered_at   timestamptz NOT NULL,  -- the header, else the message's timestamp
    -- From the payload: what it is, whose it is (gateway tokens see their tenants' only).
    payload_kind       text        NOT NULL,  -- channel_message | notification | raw
    tenant             text,
    replay             integer,     -- a ChannelMessage's replay count when it was dead-lettered
    value_bytes        integer,     -- NULL: the message has no value (tidings-value-dropped)
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);

-- The list's groups (channel, error class) and its channel filter; its time filters.
CREATE INDEX dead_letters_channel_idx ON dead_letters (dlq_topic, channel, error_class, dead_lettered_at);
CREATE INDEX dead_letters_time_idx ON dead_letters (dlq_topic, dead_lettered_at);
-- --error matches the error class or the reason, case-insensitively.
CREATE INDEX dead_letters_error_class_idx ON dead_letters (dlq_topic, lower(error_class));
CREATE INDEX dead_letters_reason_idx ON dead_letters (dlq_topic, lower(reason));
-- A gateway token sees its tenants' dead letters only; `dlq show` looks one notification up.
CREATE INDEX dead_letters_tenant_idx ON dead_letters (dlq_topic, tenant, dead_lettered_at);
CREATE INDEX dead_letters_notification_idx ON dead_letters (dlq_topic, notification_id);

-- The gateway's replays run in the background (gateway/dlq_replay_jobs.py): their state lives
-- here so every gateway process answers the same. The process running a job holds an advisory
-- lock named after it; a queued or running job whose lock nobody holds was interrupted.
CREATE TABLE dlq_replay_jobs (
    id                        uuid        PRIMARY KEY,
    dlq_topic                 text        NOT NULL,
    requested_by              text,
    tenants                   text[],     -- NULL: every tenant
    selection                 jsonb       NOT NULL,  -- channel, error, since, until, rate
    state                     text        NOT NULL DEFAULT 'queued'
                                          CHECK (state IN ('queued', 'running', 'done', 'failed')),
    matching                  integer,
    replayed                  integer     NOT NULL DEFAULT 0,
    skipped_already_replayed  integer     NOT NULL DEFAULT 0,
    skipped_already_sent      integer     NOT NULL DEFAULT 0,
    skipped_no_original_topic integer     NOT NULL DEFAULT 0,
    failed                    integer     NOT NULL DEFAULT 0,
    failures                  jsonb       NOT NULL DEFAULT '[]',
    error                     text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    started_at                timestamptz,
    finished_at               timestamptz,
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dlq_replay_jobs_created_at_idx ON dlq_replay_jobs (created_at);
