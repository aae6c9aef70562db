-- Artifact announcements applied by one call, with their sessions' locks: a batch of deliveries carrying some applies
-- them inside its own statement (see `record_batch`), where it took a transaction, a statement for the locks and one
-- per announcement, and one delivery's announcement is one statement after `BEGIN`. Each announcement is applied
-- as the statement `artifacts::apply` ran for it before: same rules, in the batch's order, so that two statuses of
-- one recording in one batch end as they would one after the other.
--
-- The locks: exclusively the sessions announced (their artifacts are written here), shared those whose rows the
-- caller's statement inserts next (`recorded`, as `session_artifact_flags` takes them), all in the order of the
-- session ids, the order every other taker of these locks uses, so that no two transactions wait on each other in a
-- circle. Each statement of a volatile function reads with a snapshot of its own, taken after the locks.
--
-- Files are given flat, each announcement's the slice `first_file .. last_file` (every announcement names one file
-- at least: a recording whose files are not known yet names its main file without a source).
CREATE FUNCTION apply_announcements(
    p_ord int[], p_session_id text[], p_kind text[], p_artifact_id text[], p_recording_type text[],
    p_meeting_id text[], p_organization_id text[], p_state text[], p_status text[], p_status_rank int2[],
    p_expires_at timestamptz[], p_file_name text[], p_duration_secs int8[], p_started_at timestamptz[],
    p_stopped_at timestamptz[], p_error text[], p_is_recording boolean[], p_remove_placeholder boolean[],
    p_archivable boolean[], p_first_file int[], p_last_file int[], p_file text[], p_layer text[], p_url text[],
    p_size int8[], p_recorded text[], p_archive_followup text, p_max_attempts int)
    RETURNS TABLE (announcement_ord int, announcement_changed boolean)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_files text[];
    v_changed boolean;
BEGIN
    PERFORM CASE WHEN w.exclusive THEN pg_advisory_xact_lock(4242, hashtext(w.id))::text
                 ELSE pg_advisory_xact_lock_shared(4242, hashtext(w.id))::text END
    FROM (SELECT u.id, bool_or(u.exclusive) AS exclusive
          FROM (SELECT s, true FROM unnest(p_session_id) AS s
                UNION ALL SELECT s, false FROM unnest(p_recorded) AS s) AS u(id, exclusive)
          GROUP BY u.id ORDER BY u.id) AS w;

    FOR i IN 1 .. coalesce(cardinality(p_ord), 0) LOOP
        v_files := p_file[p_first_file[i] : p_last_file[i]];
        -- The files named, each added or updated unless the news is older than what it has (a recording's row
        -- without a source stands for files not known yet: it is not added beside files, and goes once they come);
        -- a recording's status reaching its other files; and, when anything changed, the session's flag and its
        -- archive follow-up. The three writes touch different rows.
        WITH upserted AS (
            INSERT INTO artifacts AS a (session_id, kind, artifact_id, file, layer, recording_type, meeting_id,
                organization_id, state, status, status_rank, source_url, expires_at, size_bytes, file_name,
                duration_secs, started_at, stopped_at, error)
            SELECT p_session_id[i], p_kind[i], p_artifact_id[i], f.file, f.layer, p_recording_type[i],
                   p_meeting_id[i], p_organization_id[i], p_state[i], p_status[i], p_status_rank[i], f.url,
                   CASE WHEN f.url IS NULL THEN NULL ELSE p_expires_at[i] END, f.size, p_file_name[i],
                   p_duration_secs[i], p_started_at[i], p_stopped_at[i], p_error[i]
            FROM unnest(v_files, p_layer[p_first_file[i] : p_last_file[i]], p_url[p_first_file[i] : p_last_file[i]],
                        p_size[p_first_file[i] : p_last_file[i]]) AS f(file, layer, url, size)
            WHERE NOT EXISTS (
                SELECT 1 FROM artifacts o
                WHERE o.session_id = p_session_id[i] AND o.kind = p_kind[i] AND o.artifact_id = p_artifact_id[i]
                  AND (o.status_rank > p_status_rank[i] OR (f.url IS NULL AND o.file <> f.file)))
            ON CONFLICT (session_id, kind, artifact_id, file) DO UPDATE SET
                meeting_id = coalesce(a.meeting_id, EXCLUDED.meeting_id),
                organization_id = coalesce(a.organization_id, EXCLUDED.organization_id),
                layer = coalesce(EXCLUDED.layer, a.layer),
                recording_type = coalesce(EXCLUDED.recording_type, a.recording_type),
                status = EXCLUDED.status, status_rank = EXCLUDED.status_rank,
                source_url = coalesce(EXCLUDED.source_url, a.source_url),
                expires_at = CASE WHEN EXCLUDED.source_url IS NULL THEN a.expires_at ELSE EXCLUDED.expires_at END,
                size_bytes = coalesce(EXCLUDED.size_bytes, a.size_bytes),
                file_name = coalesce(EXCLUDED.file_name, a.file_name),
                duration_secs = coalesce(EXCLUDED.duration_secs, a.duration_secs),
                started_at = coalesce(EXCLUDED.started_at, a.started_at),
                stopped_at = coalesce(EXCLUDED.stopped_at, a.stopped_at),
                state = CASE WHEN EXCLUDED.state = 'lost' THEN 'lost'
                             WHEN a.state = 'failed' THEN 'announced' ELSE a.state END,
                error = CASE WHEN EXCLUDED.state = 'lost' THEN EXCLUDED.error ELSE a.error END,
                updated_at = now()
            WHERE a.state NOT IN ('archived', 'lost')
              AND EXCLUDED.status_rank >= a.status_rank
              AND (EXCLUDED.status IS DISTINCT FROM a.status OR EXCLUDED.source_url IS DISTINCT FROM a.source_url
                   OR EXCLUDED.expires_at IS DISTINCT FROM a.expires_at
                   OR EXCLUDED.size_bytes IS DISTINCT FROM a.size_bytes)
            RETURNING a.file
        ), placeholder AS (
            -- A recording's row without a source, once its files are named.
            DELETE FROM artifacts d
            WHERE p_remove_placeholder[i] AND d.session_id = p_session_id[i] AND d.kind = p_kind[i]
              AND d.artifact_id = p_artifact_id[i] AND d.file = '' AND d.source_url IS NULL
              AND d.state IN ('announced', 'failed')
            RETURNING d.file
        ), others AS (
            -- A recording's status reaches the files not named (an ERRORED makes them lost).
            UPDATE artifacts o SET status = p_status[i], status_rank = p_status_rank[i],
                recording_type = coalesce(p_recording_type[i], o.recording_type),
                duration_secs = coalesce(p_duration_secs[i], o.duration_secs),
                started_at = coalesce(p_started_at[i], o.started_at),
                stopped_at = coalesce(p_stopped_at[i], o.stopped_at),
                state = CASE WHEN p_state[i] = 'lost' THEN 'lost' ELSE o.state END,
                error = CASE WHEN p_state[i] = 'lost' THEN p_error[i] ELSE o.error END,
                updated_at = now()
            WHERE p_is_recording[i] AND o.session_id = p_session_id[i] AND o.kind = p_kind[i]
              AND o.artifact_id = p_artifact_id[i] AND o.file <> ALL (v_files)
              AND o.state NOT IN ('archived', 'lost') AND o.status_rank <= p_status_rank[i]
              AND o.status IS DISTINCT FROM p_status[i]
              AND NOT (p_remove_placeholder[i] AND o.file = '' AND o.source_url IS NULL
                       AND o.state IN ('announced', 'failed'))
            RETURNING o.file
        ), news AS (
            SELECT EXISTS (SELECT 1 FROM upserted) OR EXISTS (SELECT 1 FROM placeholder)
                   OR EXISTS (SELECT 1 FROM others) AS changed
        ), flagged AS (
            UPDATE sessions s SET has_recording = s.has_recording OR p_kind[i] = 'recording',
                                  has_transcript = s.has_transcript OR p_kind[i] = 'transcript',
                                  has_summary = s.has_summary OR p_kind[i] = 'summary',
                                  has_chat = s.has_chat OR p_kind[i] = 'chat'
            WHERE s.session_id = p_session_id[i] AND (SELECT n.changed FROM news n)
            RETURNING s.session_id
        ), archive AS (
            INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
            SELECT g.session_id, p_archive_followup, 'archive', p_max_attempts FROM flagged g
            WHERE p_archive_followup IS NOT NULL AND p_archivable[i]
            -- Run again, as `followup_jobs::RUN_AGAIN` says.
            ON CONFLICT (session_id, followup, trigger, subject) DO UPDATE SET
                rerun = followup_jobs.status = 'running',
                status = CASE WHEN followup_jobs.status = 'running' THEN 'running' ELSE 'queued' END,
                attempts = CASE WHEN followup_jobs.status = 'running' THEN followup_jobs.attempts ELSE 0 END,
                run_at = CASE WHEN followup_jobs.status = 'running' THEN followup_jobs.run_at ELSE now() END,
                finished_at = NULL, updated_at = now()
        )
        SELECT n.changed INTO v_changed FROM news n;

        announcement_ord := p_ord[i];
        announcement_changed := v_changed;
        RETURN NEXT;
    END LOOP;
END;
$$;
