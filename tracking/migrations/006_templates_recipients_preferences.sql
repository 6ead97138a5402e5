-- Templates (versioned, immutable once stored), the recipient directory and per-recipient
-- preferences (opt-outs). Read by the router; written by the CLI, the gateway and the sink.

CREATE TABLE IF NOT EXISTS templates (
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    -- {"email": {"default": {"subject": "...", "text": "...", "html": "..."}, "pt-BR": {...}}, ...}
    parts       jsonb       NOT NULL,
    sample      jsonb       NOT NULL DEFAULT '{}',
    description text,
    checksum    text        NOT NULL,   -- of parts + sample: an unchanged push stores nothing
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS recipients (
    id          text PRIMARY KEY,
    email       text,
    phone       text,
    slack       text,
    webhook_url text,
    locale      text,
    timezone    text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (recipient, channel, category); '*' means any channel / any category. The most
-- specific row decides (see router/preferences.py). `source` says who set it: user, provider:<name>.
CREATE TABLE IF NOT EXISTS preferences (
    recipient_id text        NOT NULL,
    channel      text        NOT NULL DEFAULT '*',
    category     text        NOT NULL DEFAULT '*',
    enabled      boolean     NOT NULL,
    source       text        NOT NULL DEFAULT 'user',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recipient_id, channel, category)
);
