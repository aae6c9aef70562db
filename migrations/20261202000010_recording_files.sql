-- A recording may have several files: its composite file, an audio file (audio-only output), and one file per
-- participant track (a track recording). Each is an artifact row of its own, archived and served on its own. `file`
-- names it within its recording: '' for the main file (as every row had before, and the one file of a transcript,
-- summary or chat), `audio`, or the track's file name. A recording whose files are not known yet (not uploaded) has
-- one row with `file = ''` and no source: it carries the recording's status until its files arrive.
ALTER TABLE artifacts
    ADD COLUMN file text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN layer text,
    ADD COLUMN recording_type text
        CONSTRAINT artifacts_recording_type_check CHECK (recording_type IN ('COMPOSITE', 'TRACK'));

-- The key gains the file. The table holds a few rows per session: building the new key takes moments, during which
-- announcements wait (deliveries of every other event do not).
CREATE UNIQUE INDEX artifacts_file_key ON artifacts (session_id, kind, artifact_id, file);
ALTER TABLE artifacts
    DROP CONSTRAINT artifacts_pkey,
    ADD CONSTRAINT artifacts_pkey PRIMARY KEY USING INDEX artifacts_file_key;

-- A recording's session by its id, for events that do not name it.
CREATE INDEX artifacts_recording_idx ON artifacts (artifact_id) WHERE kind = 'recording';

-- Recording events that name no session (Dyte-era payloads), each waiting, its delivery kept, until the Recordings
-- API says its session (GET /recordings/{id}); the reconciliation sweep asks, a bounded number each time.
CREATE TABLE unattributed_recordings (
    delivery_id     text        COLLATE "C" NOT NULL CONSTRAINT unattributed_recordings_pkey PRIMARY KEY,
    recording_id    text        COLLATE "C" NOT NULL,
    app_id          text        COLLATE "C",
    received_at     timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE INDEX unattributed_recordings_due_idx ON unattributed_recordings (next_attempt_at);
