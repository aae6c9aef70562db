-- What `livestreaming.statusUpdate` said of a session's livestreams: one row per update, the stream, its status and
-- its playback URL, when it was received (the event carries no time of its own). The stream key is never stored
-- here: it stays in the raw delivery.
CREATE TABLE livestream_updates (
    delivery_id  text        COLLATE "C" NOT NULL CONSTRAINT livestream_updates_pkey PRIMARY KEY,
    session_id   text        COLLATE "C" NOT NULL,
    stream_id    text        COLLATE "C" NOT NULL,
    status       text        NOT NULL,
    playback_url text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX livestream_updates_session_idx ON livestream_updates (session_id, received_at);
