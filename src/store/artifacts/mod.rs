//! Artifacts: what RealtimeKit announced of a session (recordings and their files, transcript, summary, chat) and
//! where the archived copy of each file stands. One row per file: a recording has a row for its composite file, its
//! audio file and each track file (see the `recording_files` migration).
//!
//! An announcement is written with the session's advisory lock held exclusively; a session's insert takes it shared
//! (`session_artifact_flags`, called once by each statement that records sessions). So whichever of an artifact and
//! its session arrives second sees the first: the session starts with its artifact flags set, or the artifact sets
//! them and queues the session's archive.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::domain::artifact::{ArtifactKind, ArtifactState, download_path};
use crate::domain::recording::{ArtifactFile, RecordingType};

mod announce;
mod archive_state;

pub use announce::{AnnouncementColumns, announce, count_if_lost};
pub use archive_state::{
    ArchivedCopy, ArtifactKey, PendingArtifact, archived_copy, archived_recording, mark_archived, mark_archiving,
    mark_failed, mark_lost, pending_for_session, refresh_source,
};

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
        download_path(self.kind, self.recording_id.as_deref(), &self.file_key)
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

/// Artifacts not archived yet (announced, archiving or failed; or only those in `state`), soonest expiry first, at
/// most `limit`; with `within`, only those whose source expires within it (or has expired): the ones at risk.
/// Every form reads the `artifacts_unarchived_idx` partial index.
pub async fn unarchived(
    pool: &PgPool,
    within: Option<Duration>,
    state: Option<ArtifactState>,
    limit: i64,
) -> Result<Vec<Artifact>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {READER_COLUMNS} FROM artifacts
         WHERE state IN ('announced', 'archiving', 'failed')
           AND ($1::float8 IS NULL OR expires_at < now() + make_interval(secs => $1))
           AND ($3::text IS NULL OR state = $3)
         ORDER BY expires_at NULLS LAST, session_id LIMIT $2"
    ))
    .bind(within.map(|w| w.as_secs_f64()))
    .bind(limit)
    .bind(state.map(ArtifactState::as_str))
    .fetch_all(pool)
    .await
    .map(|rows: Vec<Artifact>| rows.into_iter().map(Artifact::named).collect())
}

/// Marks lost the files not archived whose source has expired and that were announced more than RealtimeKit's
/// 7 days of retention ago: RealtimeKit has deleted them, and no retry can bring them back. (A download URL can
/// expire sooner and be fetched again; the file cannot outlive the 7 days.) Returns the kinds marked, one each.
pub async fn mark_expired_lost(pool: &PgPool) -> Result<Vec<ArtifactKind>, sqlx::Error> {
    let kinds: Vec<String> = sqlx::query_scalar(
        "UPDATE artifacts SET state = 'lost', updated_at = now(),
                error = 'RealtimeKit deleted it (its 7 days ended ' || to_char(expires_at AT TIME ZONE 'UTC',
                        'YYYY-MM-DD HH24:MI \"UTC\"') || ') before it could be archived'
                        || coalesce('; the last attempt: ' || error, '')
         WHERE state IN ('announced', 'archiving', 'failed') AND expires_at < now()
           AND announced_at < now() - interval '7 days'
         RETURNING kind",
    )
    .fetch_all(pool)
    .await?;
    kinds
        .into_iter()
        .map(|kind| ArtifactKind::try_from(kind).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect()
}

/// The soonest expiry of a session's files not archived yet: how long its archive job may keep retrying.
pub async fn soonest_unarchived_expiry(pool: &PgPool, session_id: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(expires_at) FROM artifacts
         WHERE session_id = $1 AND state IN ('announced', 'archiving', 'failed')",
    )
    .bind(session_id)
    .fetch_one(pool)
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
