-- The flags lookup reads artifacts by the unique index on (session_id, ...) whatever the table's statistics say: a
-- plan cached while the table was nearly empty (a new database, or before its first analyze) scanned the whole table
-- for every statement, and a batch of participant events, which records no session, paid for it too; a call with no
-- session ids now returns at once.
CREATE OR REPLACE FUNCTION session_artifact_flags(session_ids text[])
    RETURNS TABLE (session_id text, has_recording boolean, has_transcript boolean, has_summary boolean,
                   has_chat boolean)
    LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$
BEGIN
    IF cardinality(session_ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(4242, hashtext(id)) FROM unnest(session_ids) AS id ORDER BY id;
    RETURN QUERY
        SELECT a.session_id, bool_or(a.kind = 'recording'), bool_or(a.kind = 'transcript'),
               bool_or(a.kind = 'summary'), bool_or(a.kind = 'chat')
        FROM artifacts a WHERE a.session_id = ANY (session_ids)
        GROUP BY a.session_id;
END;
$$;
