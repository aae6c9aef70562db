-- Every verified delivery, kept with its exact body, and every ended session it recorded.
-- Identifiers use the "C" collation: byte order is all they need, and it keeps index comparisons cheap whatever
-- the database's default collation is.

CREATE TABLE deliveries (
    -- rtk-uuid, or 'sha256:<hex of the body>' when a delivery has none: the deduplication key.
    delivery_id  text        COLLATE "C" CONSTRAINT deliveries_pkey PRIMARY KEY,
    webhook_id   text,
    event        text,
    status       text        NOT NULL
        CONSTRAINT deliveries_status_check CHECK (status IN ('stored', 'duplicate', 'ignored', 'unprocessable')),
    session_id   text,
    -- Why an unprocessable delivery could not be used.
    error        text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- The body as jsonb when it is JSON Postgres can hold, otherwise its exact bytes.
    payload      jsonb,
    raw_body     bytea,
    CONSTRAINT deliveries_body_check CHECK ((payload IS NULL) <> (raw_body IS NULL))
);

-- No foreign key to deliveries: old delivery rows may be swept away, sessions are kept for good.
CREATE TABLE sessions (
    session_id          text        COLLATE "C" CONSTRAINT sessions_pkey PRIMARY KEY,
    meeting_id          text        COLLATE "C" NOT NULL,
    meeting_title       text,
    room_name           text,
    organization_id     text        COLLATE "C",
    organization_name   text,
    reason              text        COLLATE "C",
    meeting_created_at  timestamptz,
    started_at          timestamptz,
    ended_at            timestamptz NOT NULL,
    duration_seconds    bigint,
    received_at         timestamptz NOT NULL DEFAULT now(),
    delivery_id         text        NOT NULL,
    webhook_id          text
);

-- The listing order (newest ended first, session id as the tie-break) and each filter followed by that order, so
-- that every page, first or deep, is one index range scan.
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at DESC, session_id DESC);
CREATE INDEX sessions_meeting_id_idx ON sessions (meeting_id, ended_at DESC, session_id DESC);
CREATE INDEX sessions_organization_id_idx ON sessions (organization_id, ended_at DESC, session_id DESC);
CREATE INDEX sessions_reason_idx ON sessions (reason, ended_at DESC, session_id DESC);
