-- Sessions that `meeting.started` reported and no `meeting.ended` (nor reconciliation) has ended yet. A session
-- that ended is never shown as live: readers skip a row whose session is in `sessions`, and retention removes it.
-- `started_at` is the event's, or when the event was received when it has none (it orders the listing).
CREATE TABLE live_sessions (
    session_id         text        COLLATE "C" NOT NULL CONSTRAINT live_sessions_pkey PRIMARY KEY,
    meeting_id         text        COLLATE "C" NOT NULL,
    meeting_title      text,
    room_name          text,
    organization_id    text        COLLATE "C",
    organization_name  text,
    meeting_created_at timestamptz,
    started_at         timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    delivery_id        text        COLLATE "C",
    -- The last time reconciliation asked the Sessions API about it, and since when it has been stale: older than
    -- `reconcile.stale_live_hours` and not ended by RealtimeKit's account of it either.
    checked_at         timestamptz,
    stale_since        timestamptz
);
CREATE INDEX live_sessions_started_idx ON live_sessions (started_at DESC, session_id DESC);
