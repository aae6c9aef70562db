-- Title search by meeting. A meeting's sessions share its title, so the trigram index that serves
-- `GET /sessions?title=` covers each (meeting, title) once, in `meeting_titles`, instead of every session: a
-- session of a meeting already known adds one unique-key probe here, where the trigram index of `sessions` took
-- some sixty entries and grew with every session. A search finds the meetings by their titles, then their sessions
-- by `sessions_meeting_id_idx`, and checks each session's own title.
--
-- The key is the title's MD5 (the one digest of text that Postgres deems immutable, as an index needs): a title may
-- be 4 KB, over what one btree entry holds. Two titles of one meeting with the same digest would keep the first.
CREATE TABLE meeting_titles (
    meeting_id  text COLLATE "C" NOT NULL,
    title       text NOT NULL
);
CREATE UNIQUE INDEX meeting_titles_key ON meeting_titles (meeting_id, md5(title));
CREATE INDEX meeting_titles_title_trgm_idx ON meeting_titles USING gin (title gin_trgm_ops);

-- Every statement that records sessions adds their titles, whichever path it is (a batch, one delivery, a
-- reconciled session): in title order, so that two batches adding the same new titles never wait on each other in
-- a cycle.
CREATE FUNCTION meeting_titles_of_new_sessions() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO meeting_titles (meeting_id, title)
    SELECT DISTINCT meeting_id, meeting_title FROM new_sessions WHERE meeting_title IS NOT NULL
    ORDER BY meeting_id, meeting_title
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER sessions_meeting_titles AFTER INSERT ON sessions REFERENCING NEW TABLE AS new_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION meeting_titles_of_new_sessions();
