//! The archive's side of an artifact file: what an archive run is to copy, each change of a file's state (one row by
//! its key), and the archived copies it serves.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::artifact::{ArtifactKind, download_path};
use crate::domain::recording::ArtifactFile;
use crate::store::followup_jobs;
use crate::store::job_specs::{self, JobSpecs};

/// Identifies one artifact file.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ArtifactKey {
    pub session_id: String,
    #[sqlx(try_from = "String")]
    pub kind: ArtifactKind,
    /// The recording id, or `""`.
    pub artifact_id: String,
    #[sqlx(try_from = "String")]
    pub file: ArtifactFile,
}

/// An artifact file the archive follow-up is to copy, with its source.
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

/// What an archive run of the session is to copy: every file not archived or lost that has a usable source (a
/// recording's once it is uploaded).
pub async fn pending_for_session(pool: &PgPool, session_id: &str) -> Result<Vec<PendingArtifact>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, kind, artifact_id, file, source_url, expires_at, size_bytes, file_name
         FROM artifacts
         WHERE session_id = $1 AND state IN ('announced', 'archiving', 'failed')
           AND source_url IS NOT NULL AND (kind <> 'recording' OR status = 'UPLOADED')
         ORDER BY kind, artifact_id, file",
    )
    .bind(session_id)
    .fetch_all(pool)
    .await
}

/// One update of an artifact file's row, by its key (`$1` to `$4`).
async fn update(
    pool: &PgPool,
    key: &ArtifactKey,
    set: &str,
    bind: impl FnOnce(Update<'_>) -> Update<'_>,
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "UPDATE artifacts SET {set}, updated_at = now()
         WHERE session_id = $1 AND kind = $2 AND artifact_id = $3 AND file = $4"
    );
    let query = sqlx::query(&statement)
        .bind(&key.session_id)
        .bind(key.kind.as_str())
        .bind(&key.artifact_id)
        .bind(key.file.key());
    bind(query).execute(pool).await.map(drop)
}

type Update<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

pub async fn mark_archiving(pool: &PgPool, key: &ArtifactKey) -> Result<(), sqlx::Error> {
    update(pool, key, "state = 'archiving'", |q| q).await
}

impl ArtifactKey {
    /// Where the file is served, below `/sessions/{id}/artifacts/` (see [`download_path`]).
    pub fn download_path(&self) -> String {
        let recording_id = Some(self.artifact_id.as_str()).filter(|id| !id.is_empty());
        download_path(self.kind, recording_id, &self.file)
    }
}

/// Records the file's archived copy and, in the same statement, queues the `artifact.archived` jobs of the
/// follow-ups listening for it (once per file: archiving it again queues nothing more), then wakes the workers.
pub async fn mark_archived(
    pool: &PgPool,
    key: &ArtifactKey,
    copy: &ArchivedCopy,
    jobs: &JobSpecs,
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "WITH {listeners}, archived AS (
             UPDATE artifacts SET state = 'archived', object_key = $5, content_type = $6, archived_bytes = $7,
                                  sha256 = $8, archived_at = now(), error = NULL, updated_at = now()
             WHERE session_id = $1 AND kind = $2 AND artifact_id = $3 AND file = $4
             RETURNING session_id
         )
         INSERT INTO followup_jobs (session_id, followup, kind, trigger, subject, max_attempts)
         SELECT s.session_id, l.name, l.kind, l.trigger, $10, $11
         FROM archived a JOIN sessions s ON s.session_id = a.session_id JOIN listeners l ON {listening}
         ON CONFLICT DO NOTHING",
        listeners = job_specs::listeners("$9"),
        listening = job_specs::listening("'artifact.archived'", "s.organization_id", "s.duration_seconds"),
    );
    let queued = sqlx::query(&statement)
        .bind(&key.session_id)
        .bind(key.kind.as_str())
        .bind(&key.artifact_id)
        .bind(key.file.key())
        .bind(&copy.object_key)
        .bind(&copy.content_type)
        .bind(copy.archived_bytes)
        .bind(&copy.sha256)
        .bind(jobs.json())
        .bind(key.download_path())
        .bind(jobs.max_attempts)
        .execute(pool)
        .await?;
    if queued.rows_affected() > 0 {
        followup_jobs::wake_workers(pool).await;
    }
    Ok(())
}

pub async fn mark_failed(pool: &PgPool, key: &ArtifactKey, error: &str) -> Result<(), sqlx::Error> {
    update(pool, key, "state = 'failed', error = $5", |q| q.bind(error.to_owned())).await
}

pub async fn mark_lost(pool: &PgPool, key: &ArtifactKey, reason: &str) -> Result<(), sqlx::Error> {
    update(pool, key, "state = 'lost', error = $5", |q| q.bind(reason.to_owned())).await?;
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
    let set = "source_url = $5, expires_at = $6, size_bytes = coalesce($7, size_bytes)";
    update(pool, key, set, |q| {
        q.bind(url.to_owned()).bind(expires_at).bind(size_bytes)
    })
    .await
}

/// The archived copy of one artifact file, when there is one.
pub async fn archived_copy(pool: &PgPool, key: &ArtifactKey) -> Result<Option<ArchivedCopy>, sqlx::Error> {
    sqlx::query_as(
        "SELECT object_key, content_type, archived_bytes, sha256 FROM artifacts
         WHERE session_id = $1 AND kind = $2 AND artifact_id = $3 AND file = $4 AND state = 'archived'",
    )
    .bind(&key.session_id)
    .bind(key.kind.as_str())
    .bind(&key.artifact_id)
    .bind(key.file.key())
    .fetch_optional(pool)
    .await
}

/// What `/recordings/{id}` serves: the recording's composite file, or its only file when it has one file.
pub async fn archived_recording(
    pool: &PgPool,
    session_id: &str,
    recording_id: &str,
) -> Result<Option<ArchivedCopy>, sqlx::Error> {
    sqlx::query_as(
        "SELECT object_key, content_type, archived_bytes, sha256 FROM artifacts a
         WHERE session_id = $1 AND kind = 'recording' AND artifact_id = $2 AND state = 'archived'
           AND (file = '' OR NOT EXISTS (SELECT 1 FROM artifacts o WHERE o.session_id = $1 AND o.kind = 'recording'
                                         AND o.artifact_id = $2 AND o.file <> a.file))",
    )
    .bind(session_id)
    .bind(recording_id)
    .fetch_optional(pool)
    .await
}
