//! `kind = "archive"`: copies each of the session's announced artifacts (recordings, transcript, summary, chat) to
//! the archive store, streamed, its size checked and its SHA-256 recorded, then writes the session's manifest.
//!
//! It runs when a session with artifacts is recorded, and again whenever a new artifact is announced. An expired
//! URL is renewed through the API; an artifact RealtimeKit no longer has is marked `lost` and never tried again.
//! Archived artifacts are skipped, so a retry (or a run after a crash) redoes only what did not finish.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::download;
use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use crate::archive::{self, ArchiveStore, CopyError};
use crate::config::ArchiveSettings;
use crate::domain::artifact::ArtifactKind;
use crate::domain::job::FollowupKind;
use crate::domain::recording::ArtifactFile;
use crate::store::artifacts::{self, ArchivedCopy, Artifact, ArtifactKey, PendingArtifact};
use crate::store::followup_jobs;
use crate::store::sessions::Session;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {}

/// A URL this close to its expiry is renewed before the download starts.
const EXPIRY_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

pub struct ArchiveFollowup {
    name: String,
    store: ArchiveStore,
    max_object_bytes: u64,
    attempt_timeout: Duration,
    min_transfer_bytes_per_sec: u64,
    allow_private_sources: bool,
    download: reqwest::Client,
}

impl ArchiveFollowup {
    pub fn from_options(
        name: String,
        raw: &Map<String, Value>,
        settings: &ArchiveSettings,
    ) -> Result<Arc<dyn Followup>, String> {
        let _: Options = options(raw)?;
        let Some(url) = &settings.url else {
            return Err("needs a store: set archive.url".to_owned());
        };
        Ok(Arc::new(Self {
            name,
            store: ArchiveStore::open(url)?,
            max_object_bytes: settings.max_object_bytes.get(),
            attempt_timeout: settings.attempt_timeout,
            min_transfer_bytes_per_sec: settings.min_transfer_bytes_per_sec,
            allow_private_sources: settings.allow_private_sources,
            download: download::client(settings.allow_private_sources),
        }))
    }
}

/// How one artifact's copy ended, when it did not succeed.
enum Unarchived {
    /// RealtimeKit no longer has it: recorded as `lost`, never tried again.
    Lost(String),
    /// Worth another attempt.
    Failed(anyhow::Error),
}

#[async_trait::async_trait]
impl Followup for ArchiveFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Archive
    }

    fn attempt_timeout(&self) -> Option<Duration> {
        Some(self.attempt_timeout)
    }

    fn target(&self) -> String {
        self.store.shown().to_owned()
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let session = occurrence.ended_session()?;
        let db = &context.db;
        let session_id = &session.ended.session_id;
        let retryable = |what: &'static str| move |e: sqlx::Error| FollowupError::Retryable(anyhow!(e).context(what));
        let pending = artifacts::pending_for_session(db, session_id)
            .await
            .map_err(retryable("listing the artifacts to archive"))?;
        let folder = archive::session_folder(
            session.ended.organization_id.as_deref(),
            session.ended.ended_at,
            session_id,
        );
        let mut failures = Vec::new();
        let mut summary_archived = false;
        for artifact in pending {
            let key = artifact.key.clone();
            let result = self.archive_one(session, &folder, artifact, context).await;
            let recorded = match result {
                Ok(copy) => {
                    summary_archived |= key.kind == ArtifactKind::Summary;
                    artifacts::mark_archived(db, &key, &copy, &context.jobs).await
                }
                Err(Unarchived::Lost(reason)) => {
                    tracing::warn!(kind = key.kind.as_str(), %reason, "an artifact is lost");
                    artifacts::mark_lost(db, &key, &reason).await
                }
                Err(Unarchived::Failed(error)) => {
                    let error = error.context(format!("archiving the {}", describe(&key)));
                    let recorded = artifacts::mark_failed(db, &key, &format!("{error:#}")).await;
                    failures.push(error);
                    recorded
                }
            };
            recorded.map_err(retryable("recording an artifact's archive state"))?;
        }
        self.write_manifest(session, &folder, context).await?;
        followup_jobs::wake_completion(db, session_id)
            .await
            .map_err(retryable("waking the session's completion"))?;
        if summary_archived {
            // The report includes the summary: make it again now that the summary is here.
            followup_jobs::run_again(db, session_id, FollowupKind::Report)
                .await
                .map_err(retryable("queueing the report again"))?;
        }
        match failures.len() {
            0 => Ok(()),
            count => {
                let first = failures.remove(0);
                Err(FollowupError::Retryable(
                    first.context(format!("{count} artifact(s) not archived")),
                ))
            }
        }
    }
}

fn describe(key: &ArtifactKey) -> String {
    match (key.kind, &key.file) {
        (ArtifactKind::Recording, ArtifactFile::Main) => format!("recording {}", key.artifact_id),
        (ArtifactKind::Recording, file) => format!("recording {} file {:?}", key.artifact_id, file.name()),
        (other, _) => other.as_str().to_owned(),
    }
}

impl ArchiveFollowup {
    async fn archive_one(
        &self,
        session: &Session,
        folder: &str,
        artifact: PendingArtifact,
        context: &FollowupContext,
    ) -> Result<ArchivedCopy, Unarchived> {
        let key = artifact.key.clone();
        artifacts::mark_archiving(&context.db, &key)
            .await
            .map_err(|e| Unarchived::Failed(e.into()))?;
        let mut source = artifact.source_url.clone().unwrap_or_default();
        let mut size = artifact.size_bytes;
        let expiring = artifact.expires_at.is_some_and(|at| at - EXPIRY_MARGIN <= Utc::now());
        let mut renewed = false;
        if expiring {
            (source, size) = self.renew(session, &key, context).await?;
            renewed = true;
        }
        let response = loop {
            let url = reqwest::Url::parse(&source)
                .map_err(|e| Unarchived::Failed(anyhow!("the download URL is not a URL: {e}")))?;
            download::check_url(&url, self.allow_private_sources)
                .map_err(|why| Unarchived::Failed(anyhow!(why).context("refusing the download URL")))?;
            let response = self.download.get(url).send().await.map_err(|e| {
                Unarchived::Failed(anyhow!(e.without_url()).context("downloading from RealtimeKit's store"))
            })?;
            let status = response.status();
            if status.is_success() {
                break response;
            }
            // A pre-signed URL past its expiry answers 403 (S3) or 404/410: a fresh one is asked for once.
            let expired = matches!(status.as_u16(), 400 | 403 | 404 | 410);
            if expired && !renewed {
                (source, size) = self.renew(session, &key, context).await?;
                renewed = true;
                continue;
            }
            return Err(Unarchived::Failed(anyhow!("the download answered {status}")));
        };
        // The name RealtimeKit gives the file says its type best, then the URL's path, then what the kind usually is.
        let (own_name, default_extension) = match &key.file {
            ArtifactFile::Main => (artifact.file_name.as_deref(), key.kind.default_extension()),
            ArtifactFile::Audio => (None, "m4a"),
            ArtifactFile::Track(name) => (Some(name.as_str()), "webm"),
        };
        let extension = own_name
            .and_then(archive::extension_of)
            .or_else(|| archive::extension_of(response.url().path()))
            .unwrap_or_else(|| default_extension.to_owned());
        let name = archive::object_name(key.kind, &key.artifact_id, &key.file, &extension);
        let object_key = format!("{folder}/{name}");
        let content_type = archive::content_type(&extension);
        let expected = size.and_then(|s| u64::try_from(s).ok());
        let limit = expected.unwrap_or(self.max_object_bytes);
        let written = self
            .store
            .copy(
                &object_key,
                content_type,
                download::at_least(response, self.min_transfer_bytes_per_sec, download::RATE_WINDOW),
                limit,
            )
            .await
            .map_err(|error| match error {
                CopyError::Source { read, cause } => {
                    Unarchived::Failed(anyhow!("the download broke off after {read} bytes: {cause:#}"))
                }
                other => Unarchived::Failed(anyhow!(other)),
            })?;
        if let Some(expected) = expected
            && written.bytes != expected
        {
            return Err(Unarchived::Failed(anyhow!(
                "RealtimeKit announced {expected} bytes and the download gave {}",
                written.bytes
            )));
        }
        crate::observability::artifact_archived(key.kind, written.bytes);
        tracing::info!(
            kind = key.kind.as_str(),
            bytes = written.bytes,
            object_key,
            "archived an artifact"
        );
        Ok(ArchivedCopy {
            object_key,
            content_type: Some(content_type.to_owned()),
            archived_bytes: i64::try_from(written.bytes).unwrap_or(i64::MAX),
            sha256: written.sha256,
        })
    }

    /// A fresh URL from the session's app's API, recorded; `Lost` when RealtimeKit no longer has the artifact.
    async fn renew(
        &self,
        session: &Session,
        key: &ArtifactKey,
        context: &FollowupContext,
    ) -> Result<(String, Option<i64>), Unarchived> {
        let client = context.realtimekit_for(session).map_err(|why| {
            Unarchived::Failed(anyhow::Error::new(why).context("the download URL has expired and cannot be renewed"))
        })?;
        let fresh = client
            .fresh_source(&key.session_id, key.kind, &key.artifact_id, &key.file)
            .await
            .map_err(|e| Unarchived::Failed(anyhow!(e.describe()).context("renewing the download URL")))?;
        let Some(fresh) = fresh else {
            return Err(Unarchived::Lost(
                "the download URL expired and RealtimeKit no longer has the file (kept 7 days)".to_owned(),
            ));
        };
        artifacts::refresh_source(&context.db, key, &fresh.url, fresh.expires_at, fresh.size_bytes)
            .await
            .map_err(|e| Unarchived::Failed(e.into()))?;
        Ok((fresh.url, fresh.size_bytes))
    }

    /// `session.json`, written after the artifacts: the session record and every archived artifact with its object
    /// name, size and SHA-256. Rewritten by each run, so it always lists what is archived.
    async fn write_manifest(
        &self,
        session: &Session,
        folder: &str,
        context: &FollowupContext,
    ) -> Result<(), FollowupError> {
        #[derive(Serialize)]
        struct Entry {
            #[serde(flatten)]
            artifact: Artifact,
            object: String,
        }
        #[derive(Serialize)]
        struct Manifest<'a> {
            session: &'a Session,
            artifacts: Vec<Entry>,
            written_at: chrono::DateTime<Utc>,
        }
        let archived = artifacts::archived_for_session(&context.db, &session.ended.session_id)
            .await
            .map_err(|e| FollowupError::Retryable(anyhow!(e).context("listing the archived artifacts")))?;
        let object_of = |key: String| key.rsplit('/').next().unwrap_or_default().to_owned();
        let manifest = Manifest {
            session,
            artifacts: (archived.into_iter())
                .map(|(artifact, key)| Entry {
                    artifact,
                    object: object_of(key),
                })
                .collect(),
            written_at: Utc::now(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest)
            .context("serializing the manifest")
            .map_err(FollowupError::Permanent)?;
        self.store
            .put(
                &format!("{folder}/{}", archive::MANIFEST_NAME),
                "application/json",
                bytes,
            )
            .await
            .map_err(|e| FollowupError::Retryable(anyhow!(e).context("writing session.json")))
    }
}
