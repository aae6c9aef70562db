-- What RealtimeKit announces about a session besides its end (recordings, the transcript, the summary, the chat
-- export), and the copy of each kept in the operator's own store. RealtimeKit deletes the files after 7 days.
-- An artifact may be announced before its session is recorded: it waits here, and is attached when it is.
CREATE TABLE artifacts (
    session_id      text        COLLATE "C" NOT NULL,
    kind            text        NOT NULL
        CONSTRAINT artifacts_kind_check CHECK (kind IN ('recording', 'transcript', 'summary', 'chat')),
    -- The recording id for a recording; '' for the session's one transcript, summary and chat.
    artifact_id     text        COLLATE "C" NOT NULL DEFAULT '',
    meeting_id      text        COLLATE "C",
    organization_id text        COLLATE "C",
    state           text        NOT NULL DEFAULT 'announced'
        CONSTRAINT artifacts_state_check CHECK (state IN ('announced', 'archiving', 'archived', 'failed', 'lost')),
    -- RealtimeKit's recording status and its place in a recording's life: a later status replaces an earlier one,
    -- never the reverse.
    status          text,
    status_rank     smallint    NOT NULL DEFAULT 0,
    -- The pre-signed download URL (never shown to readers) and when it expires.
    source_url      text,
    expires_at      timestamptz,
    size_bytes      bigint,
    file_name       text,
    duration_secs   bigint,
    started_at      timestamptz,
    stopped_at      timestamptz,
    -- The archived copy.
    object_key      text,
    content_type    text,
    sha256          text,
    archived_bytes  bigint,
    archived_at     timestamptz,
    -- Why the last archive attempt failed, or why the artifact is lost.
    error           text,
    announced_at    timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT artifacts_pkey PRIMARY KEY (session_id, kind, artifact_id)
);

-- What is not archived yet, soonest expiry first: the at-risk list and its metric.
CREATE INDEX artifacts_unarchived_idx ON artifacts (expires_at) WHERE state IN ('announced', 'archiving', 'failed');

-- Which artifacts a session has, for the GET /sessions filters: each flag has a partial index in the listing
-- order, so a filtered page is one index range scan however rare the flag is.
ALTER TABLE sessions
    ADD COLUMN has_recording  boolean NOT NULL DEFAULT false,
    ADD COLUMN has_transcript boolean NOT NULL DEFAULT false,
    ADD COLUMN has_summary    boolean NOT NULL DEFAULT false,
    ADD COLUMN has_chat       boolean NOT NULL DEFAULT false;
CREATE INDEX sessions_has_recording_idx ON sessions (ended_at DESC, session_id DESC) WHERE has_recording;
CREATE INDEX sessions_has_transcript_idx ON sessions (ended_at DESC, session_id DESC) WHERE has_transcript;
CREATE INDEX sessions_has_summary_idx ON sessions (ended_at DESC, session_id DESC) WHERE has_summary;
CREATE INDEX sessions_has_chat_idx ON sessions (ended_at DESC, session_id DESC) WHERE has_chat;

-- A session recorded after some of its artifacts were announced starts with their flags set. An artifact and its
-- session may arrive at the same instant: the artifact's writer holds an exclusive advisory lock on the session id
-- (see store/artifacts.rs) and this takes it shared, so one of the two always sees the other.
CREATE FUNCTION sessions_artifact_flags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4242, hashtext(NEW.session_id));
    SELECT coalesce(bool_or(kind = 'recording'), false), coalesce(bool_or(kind = 'transcript'), false),
           coalesce(bool_or(kind = 'summary'), false), coalesce(bool_or(kind = 'chat'), false)
    INTO NEW.has_recording, NEW.has_transcript, NEW.has_summary, NEW.has_chat
    FROM artifacts WHERE session_id = NEW.session_id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER sessions_artifact_flags BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_artifact_flags();

-- A follow-up asked to run again while it runs (a new artifact for an archive that is under way): once this run
-- succeeds, it is queued again instead of finishing.
ALTER TABLE followup_jobs ADD COLUMN rerun boolean NOT NULL DEFAULT false;

-- How far the reconciliation sweep has asked the API for the artifacts of recorded sessions (for sessions whose
-- artifact events never came): every session ended before (ended_at, session_id) has been asked about. One row.
CREATE TABLE artifact_checks (
    id          smallint    CONSTRAINT artifact_checks_pkey PRIMARY KEY DEFAULT 1
        CONSTRAINT artifact_checks_single_row CHECK (id = 1),
    ended_at    timestamptz NOT NULL,
    session_id  text        COLLATE "C" NOT NULL
);

-- A session's deliveries (GET /deliveries?session_id=) include the events of its artifacts, which are few: only
-- they are indexed by session, beside the duplicates.
CREATE INDEX deliveries_artifact_session_idx ON deliveries (session_id)
    WHERE event IN ('recording.statusUpdate', 'meeting.transcript', 'meeting.summary', 'meeting.chatSynced');
