-- no-transaction
-- A session's deliveries (GET /deliveries?session_id=) include its few events besides `meeting.ended`: its start,
-- its livestream updates and its artifacts' events. Built without blocking ingest; the index it replaces (artifact
-- events only) is dropped by the next migration. Participant events, most of the volume, are not indexed by session.
CREATE INDEX CONCURRENTLY IF NOT EXISTS deliveries_session_events_idx ON deliveries (session_id)
    WHERE event IN ('meeting.started', 'livestreaming.statusUpdate', 'recording.statusUpdate', 'meeting.transcript',
                    'meeting.summary', 'meeting.chatSynced');
