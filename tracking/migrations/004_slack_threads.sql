-- Slack threads across notifications: the ts of the first message posted with a thread_key in a
-- channel; later notifications with that key reply in its thread (channels/slack_threads.py).

CREATE TABLE slack_threads (
    thread_key  text NOT NULL,
    channel     text NOT NULL,
    ts          text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_key, channel)
);
