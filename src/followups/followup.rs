//! What every follow-up is: the [`Followup`] trait, what a run gets ([`FollowupContext`]) and how it fails
//! ([`FollowupError`]), with the helpers every kind uses to read its options and the database.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::domain::Trigger;
use crate::domain::job::FollowupKind;
use crate::realtimekit::client::{AppClients, RealtimeKitClient};
use crate::store::job_specs::JobSpecs;
use crate::store::sessions::Session;

/// One occurrence of a trigger, as a follow-up sees it.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub trigger: Trigger,
    pub session_id: String,
    /// The ended session, for the triggers that come after the end.
    pub ended: Option<Session>,
    /// The message's `data`: the session for `session.ended` (as it always was), else the session's fields with
    /// what the trigger is about (`participant`, `artifact`, ...).
    pub data: Value,
    /// When it happened (when its job was queued): the same on every attempt.
    pub occurred_at: DateTime<Utc>,
}

impl Occurrence {
    /// The ended session, for the kinds that act on one (a report, disabling the meeting).
    pub fn ended_session(&self) -> Result<&Session, FollowupError> {
        self.ended.as_ref().ok_or_else(|| {
            FollowupError::Permanent(anyhow::anyhow!(
                "{} is not about an ended session (this kind runs on session.ended or session.completed)",
                self.trigger
            ))
        })
    }
}

/// What a follow-up run can end in besides success. Each keeps its cause with its whole chain; the text shown
/// (in `last_error`, the logs, the API) is that chain, `: `-separated.
#[derive(Debug, thiserror::Error)]
pub enum FollowupError {
    /// Worth another attempt later (the receiver is down, the API does not know the session yet).
    #[error("{0:#}")]
    Retryable(anyhow::Error),
    /// Another attempt would fail the same way (the receiver refused the request for good).
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl FollowupContext {
    /// The API client of the session's app; a session of an app this deployment cannot call fails for good (its
    /// app's credentials are a configuration change away, then a retry).
    pub fn realtimekit_for(&self, session: &Session) -> Result<&RealtimeKitClient, FollowupError> {
        self.realtimekit
            .for_app(session.app_id.as_deref())
            .map(|(_, client)| client)
            .map_err(|why| FollowupError::Permanent(anyhow::Error::new(why)))
    }
}

impl FollowupError {
    /// A fault worth another attempt: `error`, with what was being done.
    pub(crate) fn retry(error: impl std::error::Error + Send + Sync + 'static, doing: String) -> Self {
        Self::Retryable(anyhow::Error::new(error).context(doing))
    }

    /// The cause of either kind, for callers that add what they were doing.
    pub(super) fn context(self, what: String) -> Self {
        match self {
            Self::Retryable(cause) => Self::Retryable(cause.context(what)),
            Self::Permanent(cause) => Self::Permanent(cause.context(what)),
        }
    }
}

/// What a follow-up gets besides the session.
pub struct FollowupContext {
    pub http: reqwest::Client,
    pub db: PgPool,
    /// The RealtimeKit API of each configured app: a follow-up calls it for the session's own app, with that app's
    /// credentials.
    pub realtimekit: Arc<AppClients>,
    pub job: JobInfo,
    /// The CloudEvents `source` of the messages (see [`super::message::event_source`]).
    pub event_source: Arc<str>,
    /// The follow-ups and their triggers, for the occurrences a run gives rise to (a file archived).
    pub jobs: Arc<JobSpecs>,
}

/// The job being run.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: i64,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// Unique across installations and database rebuilds, the same on every attempt.
    pub message_id: uuid::Uuid,
}

#[async_trait::async_trait]
pub trait Followup: Send + Sync {
    /// The configured name (unique among the follow-ups).
    fn name(&self) -> &str;

    /// The kind, as in `[[followups]] kind = ...`.
    fn kind(&self) -> FollowupKind;

    /// Where it sends, for operators: a URL's scheme and host (and port), never a path or a credential.
    fn target(&self) -> String;

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError>;

    /// How long one attempt may take, when not `worker.attempt_timeout_secs` (copying a large recording).
    fn attempt_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A database error while reading `what`: worth another attempt.
pub(crate) fn reading(what: &'static str) -> impl FnOnce(sqlx::Error) -> FollowupError {
    move |error| FollowupError::retry(error, format!("reading {what}"))
}

/// Reads a kind's options, refusing unknown ones, with serde's message on failure.
pub(crate) fn options<T: DeserializeOwned>(options: &Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(options.clone())).map_err(|e| e.to_string())
}
