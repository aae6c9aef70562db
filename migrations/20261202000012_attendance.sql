-- Who attended a session, from `meeting.participantJoined` and `meeting.participantLeft`: one row per peer (a
-- person who rejoins is a new peer). Events merge in any order: the earliest join and the latest leave win, names
-- are kept once known.
CREATE TABLE attendance (
    session_id            text        COLLATE "C" NOT NULL,
    peer_id               text        COLLATE "C" NOT NULL,
    display_name          text,
    custom_participant_id text,
    joined_at             timestamptz,
    left_at               timestamptz,
    CONSTRAINT attendance_pkey PRIMARY KEY (session_id, peer_id)
);
