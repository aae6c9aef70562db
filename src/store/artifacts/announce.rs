//! Writing an announcement: the session's lock, then one statement for its files, a recording's other files, the
//! row that stood for files not known yet, and the session's flag and archive follow-up.

use sqlx::{PgConnection, PgPool};

use crate::domain::artifact::{Announcement, ArtifactKind, ArtifactState, RECORDING_ERRORED, RECORDING_UPLOADED};
use crate::domain::job::FollowupKind;
use crate::domain::recording::{ArtifactFile, RecordingType};
use crate::store::followup_jobs::{self, RUN_AGAIN};
use crate::store::job_specs::JobSpecs;

/// The session's advisory lock, taken exclusively by whoever writes one of its artifacts (see the module doc).
async fn lock_session(connection: &mut PgConnection, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(4242, hashtext($1))")
        .bind(session_id)
        .execute(connection)
        .await
        .map(drop)
}

/// The advisory locks of many sessions at once, within `connection`'s transaction: exclusively those of
/// `announced` (their artifacts are written next), shared those of `recorded` (their rows are inserted next, as
/// `session_artifact_flags` does). All of them in the order of the session ids, the order that function takes its
/// own in, so that two transactions taking several never wait on each other in a circle. A session in both lists
/// is locked exclusively.
pub async fn lock_sessions(
    connection: &mut PgConnection,
    announced: &[&str],
    recorded: &[&str],
) -> Result<(), sqlx::Error> {
    let exclusive = announced.iter().map(|_| true).chain(recorded.iter().map(|_| false));
    let ids: Vec<&str> = announced.iter().chain(recorded).copied().collect();
    // The locks are taken by the outer query, over rows the subquery has sorted.
    sqlx::query(
        "SELECT CASE WHEN exclusive THEN pg_advisory_xact_lock(4242, hashtext(id))::text
                     ELSE pg_advisory_xact_lock_shared(4242, hashtext(id))::text END
         FROM (SELECT id, bool_or(exclusive) AS exclusive FROM unnest($1::text[], $2::bool[]) AS u(id, exclusive)
               GROUP BY id ORDER BY id) AS wanted",
    )
    .bind(ids)
    .bind(exclusive.collect::<Vec<bool>>())
    .execute(connection)
    .await
    .map(drop)
}

/// The files an announcement names, as columns; for a recording that names none, its one row without a source.
struct FileColumns<'a> {
    keys: Vec<&'a str>,
    layers: Vec<Option<&'a str>>,
    urls: Vec<Option<&'a str>>,
    sizes: Vec<Option<i64>>,
}

impl<'a> FileColumns<'a> {
    fn of(announcement: &'a Announcement) -> Self {
        if announcement.files.is_empty() {
            return Self {
                keys: vec![ArtifactFile::Main.key()],
                layers: vec![None],
                urls: vec![None],
                sizes: vec![None],
            };
        }
        let files = &announcement.files;
        Self {
            keys: files.iter().map(|f| f.file.key()).collect(),
            layers: files.iter().map(|f| f.layer.as_deref()).collect(),
            urls: files.iter().map(|f| Some(f.url.as_str())).collect(),
            sizes: files.iter().map(|f| f.size_bytes).collect(),
        }
    }
}

/// Records what an announcement says, within `connection`'s transaction, which must hold the session's lock
/// exclusively (see [`lock_sessions`]).
/// Each file named is added or updated; the recording's status reaches its other files; a later status replaces an
/// earlier one, never the reverse; an archived or lost file is not changed; a repeat that says nothing new changes
/// nothing. When it changed something and the session is recorded, the session's flags are set and its archive
/// follow-up (in `jobs`, when configured) is queued to run (again). Returns whether anything changed.
pub async fn apply(
    connection: &mut PgConnection,
    announcement: &Announcement,
    jobs: &JobSpecs,
) -> Result<bool, sqlx::Error> {
    let errored = announcement.status.as_deref() == Some(RECORDING_ERRORED);
    let state = if errored {
        ArtifactState::Lost
    } else {
        ArtifactState::Announced
    };
    let error = errored.then_some("RealtimeKit reported the recording ERRORED: there is no file to archive");
    let files = FileColumns::of(announcement);
    let recording_type = announcement.recording_type.map(RecordingType::as_str);
    // One statement: the files named, each added or updated unless the news is older than what it has (a
    // recording's row without a source stands for files not known yet: it is not added beside files, and goes once
    // they come); a recording's status reaching its other files; and, when anything changed, the session's flag and
    // its archive follow-up. The three writes touch different rows.
    let statement = format!(
        "WITH upserted AS (
             INSERT INTO artifacts AS a (session_id, kind, artifact_id, file, layer, recording_type, meeting_id,
                 organization_id, state, status, status_rank, source_url, expires_at, size_bytes, file_name,
                 duration_secs, started_at, stopped_at, error)
             SELECT $1, $2, $3, f.file, f.layer, $4, $5, $6, $7, $8, $9, f.url,
                    CASE WHEN f.url IS NULL THEN NULL ELSE $10 END, f.size, $11, $12, $13, $14, $15
             FROM unnest($16::text[], $17::text[], $18::text[], $19::int8[]) AS f(file, layer, url, size)
             WHERE NOT EXISTS (
                 SELECT 1 FROM artifacts o WHERE o.session_id = $1 AND o.kind = $2 AND o.artifact_id = $3
                    AND (o.status_rank > $9 OR (f.url IS NULL AND o.file <> f.file)))
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
             RETURNING file
         ), placeholder AS (
             -- A recording's row without a source, once its files are named.
             DELETE FROM artifacts WHERE $21 AND session_id = $1 AND kind = $2 AND artifact_id = $3 AND file = ''
                 AND source_url IS NULL AND state IN ('announced', 'failed')
             RETURNING file
         ), others AS (
             -- A recording's status reaches the files not named (an ERRORED makes them lost).
             UPDATE artifacts SET status = $8, status_rank = $9,
                 recording_type = coalesce($4, recording_type),
                 duration_secs = coalesce($12, duration_secs),
                 started_at = coalesce($13, started_at), stopped_at = coalesce($14, stopped_at),
                 state = CASE WHEN $7 = 'lost' THEN 'lost' ELSE state END,
                 error = CASE WHEN $7 = 'lost' THEN $15 ELSE error END,
                 updated_at = now()
             WHERE $20 AND session_id = $1 AND kind = $2 AND artifact_id = $3 AND file <> ALL($16)
               AND state NOT IN ('archived', 'lost') AND status_rank <= $9 AND status IS DISTINCT FROM $8
               AND NOT ($21 AND file = '' AND source_url IS NULL AND state IN ('announced', 'failed'))
             RETURNING file
         ), changed AS (
             SELECT EXISTS (SELECT 1 FROM upserted) OR EXISTS (SELECT 1 FROM placeholder)
                    OR EXISTS (SELECT 1 FROM others) AS changed
         ), flagged AS (
             UPDATE sessions SET has_recording = has_recording OR $2 = 'recording',
                                 has_transcript = has_transcript OR $2 = 'transcript',
                                 has_summary = has_summary OR $2 = 'summary',
                                 has_chat = has_chat OR $2 = 'chat'
             WHERE session_id = $1 AND (SELECT changed FROM changed)
             RETURNING session_id
         ), archive AS (
             INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
             SELECT session_id, $22, 'archive', $23 FROM flagged WHERE $22::text IS NOT NULL AND $24
             ON CONFLICT (session_id, followup, trigger, subject) DO UPDATE SET {RUN_AGAIN}
         )
         SELECT changed FROM changed"
    );
    let named_main = files.keys.contains(&ArtifactFile::Main.key());
    let is_recording = announcement.kind == ArtifactKind::Recording;
    let remove_placeholder = is_recording && !announcement.files.is_empty() && !named_main;
    let archivable = !errored
        && !announcement.files.is_empty()
        && (!is_recording || announcement.status.as_deref() == Some(RECORDING_UPLOADED));
    let changed: bool = sqlx::query_scalar(&statement)
        .bind(&announcement.session_id)
        .bind(announcement.kind.as_str())
        .bind(&announcement.artifact_id)
        .bind(recording_type)
        .bind(&announcement.meeting_id)
        .bind(&announcement.organization_id)
        .bind(state.as_str())
        .bind(&announcement.status)
        .bind(announcement.status_rank())
        .bind(announcement.expires_at)
        .bind(&announcement.file_name)
        .bind(announcement.duration_secs)
        .bind(announcement.started_at)
        .bind(announcement.stopped_at)
        .bind(error)
        .bind(&files.keys)
        .bind(&files.layers)
        .bind(&files.urls)
        .bind(&files.sizes)
        .bind(is_recording)
        .bind(remove_placeholder)
        .bind(jobs.name_of(FollowupKind::Archive))
        .bind(jobs.max_attempts)
        .bind(archivable)
        .fetch_one(&mut *connection)
        .await?;
    if changed && errored {
        crate::observability::artifact_lost(announcement.kind);
    }
    Ok(changed)
}

/// Records an announcement in a transaction of its own, and then `and_then` in the same transaction (the delivery
/// row that brought it, say), and wakes the workers after the commit when it changed something (its archive job
/// may be due); returns what `and_then` returned.
pub async fn announce<T>(
    pool: &PgPool,
    announcement: &Announcement,
    jobs: &JobSpecs,
    and_then: impl AsyncFnOnce(&mut PgConnection, bool) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    lock_session(&mut transaction, &announcement.session_id).await?;
    let changed = apply(&mut transaction, announcement, jobs).await?;
    let result = and_then(&mut transaction, changed).await?;
    transaction.commit().await?;
    if changed {
        followup_jobs::wake_workers(pool).await;
    }
    Ok(result)
}
