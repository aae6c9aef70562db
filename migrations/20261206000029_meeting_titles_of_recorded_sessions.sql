-- The titles of the sessions recorded before the trigger above. A migration of its own, so that creating the
-- trigger (which waits for the sessions being inserted and holds new ones back until it commits) is brief, and a
-- release still running keeps recording sessions while this reads them all: 0.5 s per million sessions of
-- 20,000 meetings, 16 s per million sessions each of its own meeting (the titles' trigram index taking each one).
-- A session inserted meanwhile adds its title by the trigger (waiting for this to commit when it is copying the same
-- title); the same title twice is skipped.
INSERT INTO meeting_titles (meeting_id, title)
SELECT DISTINCT meeting_id, meeting_title FROM sessions WHERE meeting_title IS NOT NULL
ON CONFLICT DO NOTHING;
ANALYZE meeting_titles;
