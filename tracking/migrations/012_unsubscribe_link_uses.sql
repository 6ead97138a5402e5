-- One-click unsubscribe links that were used (gateway/unsubscribe.py). A link opts out once: used
-- again, it writes nothing, so an old link cannot undo an opt-in that came after its first use.
-- A row may go once its link has expired (the token is refused then anyway).
CREATE TABLE unsubscribe_link_uses (
    link_id      text PRIMARY KEY,     -- the token's jti (a hash of the token for links without one)
    recipient_id text        NOT NULL,
    channel      text        NOT NULL, -- '*': any, as in preferences
    category     text        NOT NULL,
    used_at      timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX unsubscribe_link_uses_expires_at_idx ON unsubscribe_link_uses (expires_at);
