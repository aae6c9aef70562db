-- A session's artifact flags are read once per statement instead of by a trigger on each row. The statement that
-- records sessions calls this with all its session ids: it takes each session's advisory lock shared (an artifact's
-- writer takes it exclusively, see store/artifacts), then, with a fresh snapshot (a volatile function takes one for
-- each of its queries), reads the flags of those that have artifacts. Whichever of an artifact and its session
-- arrives second still sees the first; a batch of 64 sessions pays one function call instead of 64.
CREATE FUNCTION session_artifact_flags(session_ids text[])
    RETURNS TABLE (session_id text, has_recording boolean, has_transcript boolean, has_summary boolean,
                   has_chat boolean)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4242, hashtext(id)) FROM unnest(session_ids) AS id ORDER BY id;
    RETURN QUERY
        SELECT a.session_id, bool_or(a.kind = 'recording'), bool_or(a.kind = 'transcript'),
               bool_or(a.kind = 'summary'), bool_or(a.kind = 'chat')
        FROM artifacts a WHERE a.session_id = ANY (session_ids)
        GROUP BY a.session_id;
END;
$$;

DROP TRIGGER sessions_artifact_flags ON sessions;
DROP FUNCTION sessions_artifact_flags();
