//! `session.completed`: the session is fully processed. Its job is queued when the session is recorded and waits
//! (queued, due later, no attempt counted) until every file the meeting's settings promise (`record_on_start`,
//! `transcribe_on_end`, `summarize_on_end`, `persist_chat`, read through the API and cached an hour) has arrived,
//! every file that arrived is archived or known lost (announced, when no archive runs), and the follow-up's own
//! earlier messages of the session (`session.ended`, `artifact.archived`) are sent. Past `completion_timeout_hours`
//! after the end, it runs anyway and says what is missing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::followup::{FollowupError, reading};
use crate::domain::artifact::{ArtifactKind, ArtifactState};
use crate::realtimekit::client::AppClients;
use crate::store::artifacts::{self, Artifact, SessionArtifacts};
use crate::store::followup_jobs;
use crate::store::meeting_promises::{self, Promises};
use crate::store::sessions::Session;

/// How long a meeting's promises are trusted before the API is asked again.
const PROMISES_MAX_AGE: Duration = Duration::from_secs(3600);
/// How soon a waiting check runs again when nothing wakes it (a file archived or lost wakes it at once).
const RECHECK: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
/// How soon it runs again when it only waits for its own earlier messages to be sent.
const RECHECK_SENDING: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// What `session.completed` carries as `completion`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// False when the wait timed out.
    pub complete: bool,
    /// What the meeting's settings promise: `recording`, `transcript`, `summary`, `chat`.
    pub promised: Vec<ArtifactKind>,
    /// What had not arrived or was not settled when it timed out (empty when complete).
    pub missing: Vec<String>,
}

/// Where a session stands.
pub enum Verdict {
    /// Run now, with what the session has (read once, for the check and for the message).
    Ready(Completion, Box<SessionArtifacts>),
    /// Not yet: check again at `until`.
    Wait { until: DateTime<Utc>, missing: Vec<String> },
}

pub struct Check<'a> {
    pub db: &'a PgPool,
    pub clients: &'a AppClients,
    pub timeout: Duration,
    /// Whether an archive follow-up runs: then a file is settled once archived (or lost), else once announced.
    pub archive_on: bool,
}

impl Check<'_> {
    pub async fn verdict(&self, session: &Session, followup: &str) -> Result<Verdict, FollowupError> {
        let promises = self.promises(session).await?;
        let session_files = artifacts::for_session(self.db, &session.ended.session_id)
            .await
            .map_err(reading("the session's files"))?;
        let files: Vec<&Artifact> = session_files.all().collect();
        let mut missing: Vec<String> = promises
            .kinds()
            .into_iter()
            .filter(|kind| !files.iter().any(|file| file.kind == *kind))
            .map(|kind| format!("{} (promised, not announced)", kind.as_str()))
            .collect();
        missing.extend(files.iter().filter(|f| !self.settled(f)).map(|f| describe(f)));
        let deadline =
            session.ended.ended_at + chrono::Duration::from_std(self.timeout).unwrap_or(chrono::TimeDelta::MAX);
        let now = Utc::now();
        if now >= deadline {
            let completion = Completion {
                complete: missing.is_empty(),
                promised: promises.kinds(),
                missing,
            };
            return Ok(Verdict::Ready(completion, Box::new(session_files)));
        }
        if !missing.is_empty() {
            return Ok(Verdict::Wait {
                until: (now + RECHECK).min(deadline),
                missing,
            });
        }
        let unsent = followup_jobs::unsent_before_completion(self.db, &session.ended.session_id, followup)
            .await
            .map_err(reading("the session's earlier messages"))?;
        if unsent > 0 {
            return Ok(Verdict::Wait {
                until: (now + RECHECK_SENDING).min(deadline),
                missing: vec![format!("{unsent} earlier message(s) of this follow-up to send first")],
            });
        }
        let completion = Completion {
            complete: true,
            promised: promises.kinds(),
            missing,
        };
        Ok(Verdict::Ready(completion, Box::new(session_files)))
    }

    /// The meeting's promises, from the cache or the API. A meeting the API does not know (or an app it cannot
    /// call) promises nothing: the files that arrived are waited for all the same.
    async fn promises(&self, session: &Session) -> Result<Promises, FollowupError> {
        let meeting_id = &session.ended.meeting_id;
        if let Some(cached) = meeting_promises::get(self.db, meeting_id, PROMISES_MAX_AGE)
            .await
            .map_err(reading("the meeting's settings"))?
        {
            return Ok(cached);
        }
        let Ok((_, client)) = self.clients.for_app(session.app_id.as_deref()) else {
            return Ok(Promises::default());
        };
        let promises = match client.get_meeting(meeting_id).await {
            Ok(meeting) => Promises {
                recording: meeting.record_on_start == Some(true),
                transcript: meeting.transcribe_on_end == Some(true),
                summary: meeting.summarize_on_end == Some(true),
                chat: meeting.persist_chat == Some(true),
            },
            Err(error) if error.is_not_found() => Promises::default(),
            Err(error) => {
                return Err(FollowupError::Retryable(
                    anyhow::Error::new(error).context("reading the meeting's settings"),
                ));
            }
        };
        meeting_promises::put(self.db, meeting_id, promises)
            .await
            .map_err(reading("the meeting's settings"))?;
        Ok(promises)
    }

    fn settled(&self, file: &Artifact) -> bool {
        match file.state {
            ArtifactState::Archived | ArtifactState::Lost => true,
            ArtifactState::Announced | ArtifactState::Failed | ArtifactState::Archiving => {
                !self.archive_on && (file.kind != ArtifactKind::Recording || file.status.as_deref() == Some("UPLOADED"))
            }
        }
    }
}

/// `recording 7a1 (composite): announced`.
fn describe(file: &Artifact) -> String {
    let mut text = file.kind.as_str().to_owned();
    if let Some(recording) = &file.recording_id {
        text.push_str(&format!(" {recording}"));
    }
    if let Some(name) = &file.file {
        text.push_str(&format!(" ({name})"));
    }
    format!("{text}: {}", file.state.as_str())
}
