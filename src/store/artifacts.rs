//! Artifacts: what RealtimeKit announced of a session (recordings, transcript, summary, chat) and where the
//! archived copy of each stands.
//!
//! An announcement is written with the session's advisory lock held exclusively; a session's insert takes it shared
//! (see the migration's trigger). So whichever of an artifact and its session arrives second sees the first: the
//! session starts with its artifact flags set, or the artifact sets them and queues the session's archive.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::domain::artifact::{Announcement, ArtifactKind, ArtifactState, RECORDING_ERRORED, RECORDING_UPLOADED};
use crate::domain::job::FollowupKind;
use crate::store::followup_jobs::{JobSpecs, RUN_AGAIN};

/// One artifact as readers see it: never its pre-signed source URL.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Artifact {
    #[sqlx(try_from = "String")]
    pub kind: ArtifactKind,
    /// The recording's id (recordings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: ArtifactState,
    /// RealtimeKit's recording status, e.g. `UPLOADED` (recordings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When RealtimeKit's download URL (and, after 7 days, the file) expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The size RealtimeKit announced, or the size archived.
    pub size_bytes: Option<i64>,
    /// The SHA-256 of the archived bytes (hex), once archived.
    pub sha256: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    /// Why the last archive attempt failed, or why the artifact is lost.
    pub error: Option<String>,
    /// Recordings only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    pub announced_at: DateTime<Utc>,
    pub session_id: String,
    /// The app that announced it (RealtimeKit's `organization_id`).
    pub app_id: Option<String>,
}

/// `artifact_id` is `''` for the kinds a session has one of; readers see `recording_id` only on recordings.
const READER_COLUMNS: &str = "session_id, kind, nullif(artifact_id, '') AS recording_id, state, status, expires_at, \
     coalesce(archived_bytes, size_bytes) AS size_bytes, sha256, archived_at, error, duration_secs, started_at, \
     stopped_at, announced_at, organization_id AS app_id";

/// The whole post-meeting record of a session, as `GET /sessions/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionArtifacts {
    pub recordings: Vec<Artifact>,
    pub transcript: Option<Artifact>,
    pub summary: Option<Artifact>,
    pub chat: Option<Artifact>,
}

impl SessionArtifacts {
    /// Every artifact, recordings first.
    pub fn all(&self) -> impl Iterator<Item = &Artifact> {
        (self.recordings.iter())
            .chain(&self.transcript)
            .chain(&self.summary)
            .chain(&self.chat)
    }

    fn from_list(artifacts: Vec<Artifact>) -> Self {
        let mut record = Self::default();
        for artifact in artifacts {
            match artifact.kind {
                ArtifactKind::Recording => record.recordings.push(artifact),
                ArtifactKind::Transcript => record.transcript = Some(artifact),
                ArtifactKind::Summary => record.summary = Some(artifact),
                ArtifactKind::Chat => record.chat = Some(artifact),
            }
        }
        record
    }
}

/// Identifies one artifact.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ArtifactKey {
    pub session_id: String,
    #[sqlx(try_from = "String")]
    pub kind: ArtifactKind,
    /// The recording id, or `""`.
    pub artifact_id: String,
}

/// An artifact the archive follow-up is to copy, with its source.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingArtifact {
    #[sqlx(flatten)]
    pub key: ArtifactKey,
    pub source_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<i64>,
    pub file_name: Option<String>,
}

/// An archived artifact's copy.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArchivedCopy {
    pub object_key: String,
    pub content_type: Option<String>,
    pub archived_bytes: i64,
    pub sha256: String,
}

/// The session's advisory lock, taken exclusively by whoever writes one of its artifacts (see the module doc).
async fn lock_session(connection: &mut PgConnection, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(4242, hashtext($1))")
        .bind(session_id)
        .execute(connection)
        .await
        .map(drop)
}

/// Records what an announcement says, within `connection`'s transaction, which must hold the session's lock.
/// A later recording status replaces an earlier one, never the reverse; an archived or lost artifact is not changed;
/// a repeat that says nothing new changes nothing. When it changed something and the session is recorded, the
/// session's flags are set and its archive follow-up (in `jobs`, when configured) is queued to run (again).
/// Returns whether anything changed.
async fn apply(
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
    // A recording's URL is usable once it is uploaded; another artifact's as soon as it is announced.
    let archivable = !errored
        && announcement.download_url.is_some()
        && (announcement.kind != ArtifactKind::Recording || announcement.status.as_deref() == Some(RECORDING_UPLOADED));
    let archive = jobs.name_of(FollowupKind::Archive);
    let statement = format!(
        "WITH upserted AS (
            INSERT INTO artifacts AS a (session_id, kind, artifact_id, meeting_id, organization_id, state, status,
                status_rank, source_url, expires_at, size_bytes, file_name, duration_secs, started_at, stopped_at,
                error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (session_id, kind, artifact_id) DO UPDATE SET
                meeting_id = coalesce(a.meeting_id, EXCLUDED.meeting_id),
                organization_id = coalesce(a.organization_id, EXCLUDED.organization_id),
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
            RETURNING kind
        ), flagged AS (
            UPDATE sessions SET has_recording = has_recording OR $2 = 'recording',
                                has_transcript = has_transcript OR $2 = 'transcript',
                                has_summary = has_summary OR $2 = 'summary',
                                has_chat = has_chat OR $2 = 'chat'
            WHERE session_id = $1 AND EXISTS (SELECT 1 FROM upserted)
            RETURNING session_id
        ), archive AS (
            INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
            SELECT session_id, $17, 'archive', $18 FROM flagged WHERE $17::text IS NOT NULL AND $19
            ON CONFLICT (session_id, followup) DO UPDATE SET {RUN_AGAIN}
            RETURNING pg_notify('rtk_followup_jobs', '')
        )
        SELECT (SELECT count(*) FROM upserted) > 0 AS changed, (SELECT count(*) FROM archive) AS queued"
    );
    let (changed, _queued): (bool, i64) = sqlx::query_as(&statement)
        .bind(&announcement.session_id)
        .bind(announcement.kind.as_str())
        .bind(&announcement.artifact_id)
        .bind(&announcement.meeting_id)
        .bind(&announcement.organization_id)
        .bind(state.as_str())
        .bind(&announcement.status)
        .bind(announcement.status_rank())
        .bind(&announcement.download_url)
        .bind(announcement.expires_at)
        .bind(announcement.size_bytes)
        .bind(&announcement.file_name)
        .bind(announcement.duration_secs)
        .bind(announcement.started_at)
        .bind(announcement.stopped_at)
        .bind(error)
        .bind(archive)
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
/// row that brought it, say); returns whether the announcement changed anything, and what `and_then` returned.
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
    Ok(result)
}

/// The whole post-meeting record of a session.
pub async fn for_session(pool: &PgPool, session_id: &str) -> Result<SessionArtifacts, sqlx::Error> {
    let list: Vec<Artifact> = sqlx::query_as(&format!(
        "SELECT {READER_COLUMNS} FROM artifacts WHERE session_id = $1 ORDER BY kind, started_at, artifact_id"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    Ok(SessionArtifacts::from_list(list))
}

/// What an archive run of the session is to copy: every artifact not archived or lost that has a usable source
/// (a recording once it is uploaded).
pub async fn pending_for_session(pool: &PgPool, session_id: &str) -> Result<Vec<PendingArtifact>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, kind, artifact_id, source_url, expires_at, size_bytes, file_name
         FROM artifacts
         WHERE session_id = $1 AND state IN ('announced', 'archiving', 'failed')
           AND source_url IS NOT NULL AND (kind <> 'recording' OR status = 'UPLOADED')
         ORDER BY kind, artifact_id",
    )
    .bind(session_id)
    .fetch_all(pool)
    .await
}

/// The artifacts of a session already archived, for its manifest.
pub async fn archived_for_session(pool: &PgPool, session_id: &str) -> Result<Vec<(Artifact, String)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        artifact: Artifact,
        object_key: String,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {READER_COLUMNS}, object_key FROM artifacts
         WHERE session_id = $1 AND state = 'archived' ORDER BY kind, artifact_id"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| (row.artifact, row.object_key)).collect())
}

/// One update of an artifact's row, by its key (`$1` to `$3`).
async fn update(
    pool: &PgPool,
    key: &ArtifactKey,
    set: &str,
    bind: impl FnOnce(Update<'_>) -> Update<'_>,
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "UPDATE artifacts SET {set}, updated_at = now() WHERE session_id = $1 AND kind = $2 AND artifact_id = $3"
    );
    let query = sqlx::query(&statement)
        .bind(&key.session_id)
        .bind(key.kind.as_str())
        .bind(&key.artifact_id);
    bind(query).execute(pool).await.map(drop)
}

type Update<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

pub async fn mark_archiving(pool: &PgPool, key: &ArtifactKey) -> Result<(), sqlx::Error> {
    update(pool, key, "state = 'archiving'", |q| q).await
}

pub async fn mark_archived(pool: &PgPool, key: &ArtifactKey, copy: &ArchivedCopy) -> Result<(), sqlx::Error> {
    let set = "state = 'archived', object_key = $4, content_type = $5, archived_bytes = $6, sha256 = $7, \
               archived_at = now(), error = NULL";
    update(pool, key, set, |q| {
        q.bind(copy.object_key.clone())
            .bind(copy.content_type.clone())
            .bind(copy.archived_bytes)
            .bind(copy.sha256.clone())
    })
    .await
}

pub async fn mark_failed(pool: &PgPool, key: &ArtifactKey, error: &str) -> Result<(), sqlx::Error> {
    update(pool, key, "state = 'failed', error = $4", |q| q.bind(error.to_owned())).await
}

pub async fn mark_lost(pool: &PgPool, key: &ArtifactKey, reason: &str) -> Result<(), sqlx::Error> {
    update(pool, key, "state = 'lost', error = $4", |q| q.bind(reason.to_owned())).await?;
    crate::observability::artifact_lost(key.kind);
    Ok(())
}

/// A fresh download URL fetched from the API, with its expiry and, when the API says it, the size.
pub async fn refresh_source(
    pool: &PgPool,
    key: &ArtifactKey,
    url: &str,
    expires_at: Option<DateTime<Utc>>,
    size_bytes: Option<i64>,
) -> Result<(), sqlx::Error> {
    let set = "source_url = $4, expires_at = $5, size_bytes = coalesce($6, size_bytes)";
    update(pool, key, set, |q| {
        q.bind(url.to_owned()).bind(expires_at).bind(size_bytes)
    })
    .await
}

/// The archived copy of one artifact, when there is one.
pub async fn archived_copy(pool: &PgPool, key: &ArtifactKey) -> Result<Option<ArchivedCopy>, sqlx::Error> {
    sqlx::query_as(
        "SELECT object_key, content_type, archived_bytes, sha256 FROM artifacts
         WHERE session_id = $1 AND kind = $2 AND artifact_id = $3 AND state = 'archived'",
    )
    .bind(&key.session_id)
    .bind(key.kind.as_str())
    .bind(&key.artifact_id)
    .fetch_optional(pool)
    .await
}

/// Artifacts not archived yet (announced, archiving or failed), soonest expiry first, at most `limit`; with
/// `within`, only those whose source expires within it (or has expired): the ones at risk.
pub async fn unarchived(pool: &PgPool, within: Option<Duration>, limit: i64) -> Result<Vec<Artifact>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {READER_COLUMNS} FROM artifacts
         WHERE state IN ('announced', 'archiving', 'failed')
           AND ($1::float8 IS NULL OR expires_at < now() + make_interval(secs => $1))
         ORDER BY expires_at NULLS LAST, session_id LIMIT $2"
    ))
    .bind(within.map(|w| w.as_secs_f64()))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many artifacts are not archived yet and expire within `within` (or have expired): the ones at risk.
pub async fn at_risk_count(pool: &PgPool, within: Duration) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM artifacts
         WHERE state IN ('announced', 'archiving', 'failed') AND expires_at < now() + make_interval(secs => $1)",
    )
    .bind(within.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// How many artifacts are in each state, for the gauges (every state, zero included).
pub async fn counts_by_state(pool: &PgPool) -> Result<Vec<(ArtifactState, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.state, count(a.state) FROM unnest($1::text[]) AS s(state)
         LEFT JOIN artifacts a ON a.state = s.state GROUP BY s.state",
    )
    .bind(ArtifactState::ALL.map(ArtifactState::as_str).to_vec())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(state, count)| {
            let state = ArtifactState::try_from(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((state, count))
        })
        .collect()
}

/// Seconds until the soonest expiry among artifacts not archived (negative when one has expired); `None` when
/// every artifact with an expiry is archived or lost.
pub async fn soonest_unarchived_expiry_secs(pool: &PgPool) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM min(expires_at) - now())::float8 FROM artifacts
         WHERE state IN ('announced', 'archiving', 'failed')",
    )
    .fetch_one(pool)
    .await
}

/// Sessions with artifacts announced at least `quiet_for` ago whose session is not recorded (its `meeting.ended`
/// never came), with the app that announced them: reconciliation asks that app's API for them.
pub async fn orphan_sessions(
    pool: &PgPool,
    quiet_for: Duration,
    limit: i64,
) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (a.session_id) a.session_id, a.organization_id FROM artifacts a
         WHERE a.state IN ('announced', 'archiving', 'failed')
           AND a.announced_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = a.session_id)
         LIMIT $2",
    )
    .bind(quiet_for.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A recorded session whose artifacts the API is asked about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionToCheck {
    pub session_id: String,
    pub meeting_id: String,
    pub organization_id: Option<String>,
    pub ended_at: DateTime<Utc>,
}

/// The next sessions to ask the API about, oldest ended first: ended after the last one asked about (and within
/// `window` of now, RealtimeKit's 7 days), and at least `settle` ago (so that the artifacts had time to be made).
pub async fn sessions_to_check(
    pool: &PgPool,
    window: Duration,
    settle: Duration,
    limit: i64,
) -> Result<Vec<SessionToCheck>, sqlx::Error> {
    sqlx::query_as(
        "WITH last AS (
             SELECT coalesce((SELECT ended_at FROM artifact_checks), '-infinity') AS ended_at,
                    coalesce((SELECT session_id FROM artifact_checks), '') AS session_id
         ), progress AS (
             -- Where the last sweep stopped, unless that is older than the window: then the window's start.
             SELECT CASE WHEN l.ended_at >= now() - make_interval(secs => $1) THEN l.ended_at
                         ELSE now() - make_interval(secs => $1) END AS ended_at,
                    CASE WHEN l.ended_at >= now() - make_interval(secs => $1) THEN l.session_id
                         ELSE '' END AS session_id
             FROM last l
         )
         SELECT s.session_id, s.meeting_id, s.organization_id, s.ended_at
         FROM sessions s, progress p
         WHERE (s.ended_at, s.session_id) > (p.ended_at, p.session_id)
           AND s.ended_at < now() - make_interval(secs => $2)
         ORDER BY s.ended_at, s.session_id
         LIMIT $3",
    )
    .bind(window.as_secs_f64())
    .bind(settle.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Every session up to this one (in `(ended_at, session_id)` order) has been asked about.
pub async fn checked_up_to(pool: &PgPool, session: &SessionToCheck) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO artifact_checks (id, ended_at, session_id) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET ended_at = EXCLUDED.ended_at, session_id = EXCLUDED.session_id",
    )
    .bind(session.ended_at)
    .bind(&session.session_id)
    .execute(pool)
    .await
    .map(drop)
}
