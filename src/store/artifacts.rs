//! Artifacts: what RealtimeKit announced of a session (recordings and their files, transcript, summary, chat) and
//! where the archived copy of each file stands. One row per file: a recording has a row for its composite file, its
//! audio file and each track file (see the `recording_files` migration).
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
use crate::domain::limits::path_segment;
use crate::domain::recording::{ArtifactFile, RecordingType};
use crate::store::followup_jobs::{JobSpecs, RUN_AGAIN};

/// One artifact file as readers see it: never its pre-signed source URL.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Artifact {
    #[sqlx(try_from = "String")]
    pub kind: ArtifactKind,
    /// The recording's id (recordings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    /// Which of the recording's files (recordings only): `composite`, `audio` or a track's file name; none for a
    /// recording whose files are not known yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(skip)]
    pub file: Option<String>,
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
    #[serde(skip)]
    #[sqlx(rename = "file", try_from = "String")]
    file_key: ArtifactFile,
    /// The layer a track file is listed in.
    #[serde(skip)]
    layer: Option<String>,
    #[serde(skip)]
    recording_type: Option<String>,
    /// False for a recording's row that stands for files not known yet.
    #[serde(skip)]
    has_file: bool,
}

impl Artifact {
    /// The file a reader names, for rows read with [`READER_COLUMNS`].
    fn named(mut self) -> Self {
        if self.kind == ArtifactKind::Recording && self.has_file {
            self.file = Some(self.file_key.name().to_owned());
        }
        self
    }

    /// Where the archived copy is served, below `/sessions/{id}/artifacts/`: `transcript`, `recordings/{id}` for a
    /// recording's composite file, `recordings/{id}/files/{name}` for another of its files. Segments are escaped.
    pub fn download_path(&self) -> String {
        match (self.kind, &self.recording_id) {
            (ArtifactKind::Recording, Some(recording_id)) => match &self.file_key {
                ArtifactFile::Main => format!("recordings/{}", path_segment(recording_id)),
                other => format!(
                    "recordings/{}/files/{}",
                    path_segment(recording_id),
                    path_segment(other.name())
                ),
            },
            (kind, _) => kind.as_str().to_owned(),
        }
    }
}

/// `artifact_id` is `''` for the kinds a session has one of; readers see `recording_id` only on recordings.
const READER_COLUMNS: &str = "session_id, kind, nullif(artifact_id, '') AS recording_id, state, status, expires_at, \
     coalesce(archived_bytes, size_bytes) AS size_bytes, sha256, archived_at, error, duration_secs, started_at, \
     stopped_at, announced_at, organization_id AS app_id, file, layer, recording_type, \
     (source_url IS NOT NULL OR object_key IS NOT NULL) AS has_file";

/// One recording of a session, with each of its files.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recording {
    pub recording_id: String,
    /// `COMPOSITE` (one file) or `TRACK` (a file per participant track).
    #[serde(rename = "type")]
    pub recording_type: RecordingType,
    /// RealtimeKit's status: `INVOKED`, `RECORDING`, `UPLOADING`, `UPLOADED`, `ERRORED`, or one it added since.
    pub status: Option<String>,
    pub duration_secs: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub announced_at: DateTime<Utc>,
    /// The app that announced it (RealtimeKit's `organization_id`).
    pub app_id: Option<String>,
    /// Its downloadable files (none until it is uploaded), each archived and served on its own.
    pub files: Vec<RecordingFile>,
}

/// One file of a recording and where its archived copy stands.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecordingFile {
    /// `composite`, `audio`, or a track's file name; served at
    /// `/sessions/{id}/artifacts/recordings/{recording_id}/files/{name}`.
    pub name: String,
    /// The layer a track file is listed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    pub state: ArtifactState,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    /// Why the last archive attempt failed, or why the file is lost.
    pub error: Option<String>,
}

/// The whole post-meeting record of a session, as `GET /sessions/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionArtifacts {
    pub recordings: Vec<Recording>,
    pub transcript: Option<Artifact>,
    pub summary: Option<Artifact>,
    pub chat: Option<Artifact>,
    /// Every row, a recording's files one by one.
    #[serde(skip)]
    rows: Vec<Artifact>,
}

impl SessionArtifacts {
    /// Every artifact file, recordings first (a recording not uploaded yet as one row without a file).
    pub fn all(&self) -> impl Iterator<Item = &Artifact> {
        self.rows.iter()
    }

    fn from_list(artifacts: Vec<Artifact>) -> Self {
        let mut record = Self::default();
        for artifact in &artifacts {
            match artifact.kind {
                ArtifactKind::Recording => record.add_recording_row(artifact),
                ArtifactKind::Transcript => record.transcript = Some(artifact.clone()),
                ArtifactKind::Summary => record.summary = Some(artifact.clone()),
                ArtifactKind::Chat => record.chat = Some(artifact.clone()),
            }
        }
        record.rows = artifacts;
        record
    }

    fn add_recording_row(&mut self, row: &Artifact) {
        let recording_id = row.recording_id.clone().unwrap_or_default();
        let index = match self.recordings.iter().position(|r| r.recording_id == recording_id) {
            Some(index) => index,
            None => {
                let recording_type = (row.recording_type.clone())
                    .and_then(|t| RecordingType::try_from(t).ok())
                    .unwrap_or(RecordingType::Composite);
                self.recordings.push(Recording {
                    recording_id,
                    recording_type,
                    status: row.status.clone(),
                    duration_secs: row.duration_secs,
                    started_at: row.started_at,
                    stopped_at: row.stopped_at,
                    announced_at: row.announced_at,
                    app_id: row.app_id.clone(),
                    files: Vec::new(),
                });
                self.recordings.len() - 1
            }
        };
        let Some(name) = &row.file else { return };
        self.recordings[index].files.push(RecordingFile {
            name: name.clone(),
            layer: row.layer.clone(),
            state: row.state,
            size_bytes: row.size_bytes,
            sha256: row.sha256.clone(),
            expires_at: row.expires_at,
            archived_at: row.archived_at,
            error: row.error.clone(),
        });
    }
}

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

/// The session's advisory lock, taken exclusively by whoever writes one of its artifacts (see the module doc).
async fn lock_session(connection: &mut PgConnection, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(4242, hashtext($1))")
        .bind(session_id)
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

/// Records what an announcement says, within `connection`'s transaction, which must hold the session's lock.
/// Each file named is added or updated; the recording's status reaches its other files; a later status replaces an
/// earlier one, never the reverse; an archived or lost file is not changed; a repeat that says nothing new changes
/// nothing. When it changed something and the session is recorded, the session's flags are set and its archive
/// follow-up (in `jobs`, when configured) is queued to run (again). Returns whether anything changed.
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
             ON CONFLICT (session_id, followup) DO UPDATE SET {RUN_AGAIN}
             RETURNING pg_notify('rtk_followup_jobs', '')
         )
         SELECT changed, (SELECT count(*) FROM archive) AS queued FROM changed"
    );
    let named_main = files.keys.contains(&ArtifactFile::Main.key());
    let is_recording = announcement.kind == ArtifactKind::Recording;
    let remove_placeholder = is_recording && !announcement.files.is_empty() && !named_main;
    let archivable = !errored
        && !announcement.files.is_empty()
        && (!is_recording || announcement.status.as_deref() == Some(RECORDING_UPLOADED));
    let (changed, _queued): (bool, i64) = sqlx::query_as(&statement)
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
        "SELECT {READER_COLUMNS} FROM artifacts WHERE session_id = $1
         ORDER BY kind, started_at, artifact_id, file"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    Ok(SessionArtifacts::from_list(
        list.into_iter().map(Artifact::named).collect(),
    ))
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

/// The artifacts of a session already archived, for its manifest and its report.
pub async fn archived_for_session(pool: &PgPool, session_id: &str) -> Result<Vec<(Artifact, String)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        artifact: Artifact,
        object_key: String,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {READER_COLUMNS}, object_key FROM artifacts
         WHERE session_id = $1 AND state = 'archived' ORDER BY kind, artifact_id, file"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.artifact.named(), row.object_key))
        .collect())
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

pub async fn mark_archived(pool: &PgPool, key: &ArtifactKey, copy: &ArchivedCopy) -> Result<(), sqlx::Error> {
    let set = "state = 'archived', object_key = $5, content_type = $6, archived_bytes = $7, sha256 = $8, \
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
    .map(|rows: Vec<Artifact>| rows.into_iter().map(Artifact::named).collect())
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
