-- What a meeting's settings promise after each of its sessions (`record_on_start`, `transcribe_on_end`,
-- `summarize_on_end`, `persist_chat`), as the API said it when last asked: the `session.completed` trigger waits
-- for those files. One row per meeting, read again once it is an hour old (see `store::meeting_promises`).
CREATE TABLE meeting_promises (
    meeting_id  text        COLLATE "C" CONSTRAINT meeting_promises_pkey PRIMARY KEY,
    recording   boolean     NOT NULL,
    transcript  boolean     NOT NULL,
    summary     boolean     NOT NULL,
    chat        boolean     NOT NULL,
    read_at     timestamptz NOT NULL DEFAULT now()
);
