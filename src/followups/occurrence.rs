//! Reads what a job's occurrence is about (its session, its participant, its file) into the [`Occurrence`] its
//! follow-up runs with: the same on every attempt, read when the attempt starts.

use serde_json::{Value, json};
use sqlx::PgPool;

use super::completion::{Check, Verdict};
use super::followup::{FollowupError, Occurrence, reading};
use super::message::session_with;
use crate::domain::Trigger;
use crate::store::followup_jobs::ClaimedJob;
use crate::store::{artifacts, attendance, live_sessions, sessions};

/// What a job is to do now.
pub enum Loaded {
    Ready(Box<Occurrence>),
    /// A `session.completed` whose session is not complete yet: run it again at `until`.
    Wait {
        until: chrono::DateTime<chrono::Utc>,
        missing: Vec<String>,
    },
}

/// The occurrence of `job`. `public_url` makes an archived file's `url` absolute; `completion` decides whether a
/// `session.completed` job runs now.
pub async fn load(
    pool: &PgPool,
    job: &ClaimedJob,
    public_url: Option<&str>,
    completion: &Check<'_>,
) -> Result<Loaded, FollowupError> {
    let session_id = job.session_id.as_str();
    let ended = sessions::get(pool, session_id).await.map_err(reading("the session"))?;
    let data = match job.trigger {
        Trigger::SessionEnded => {
            let session = ended.as_ref().ok_or_else(|| missing(job, "session"))?;
            to_json(session)
        }
        Trigger::SessionStarted => {
            let started = live_sessions::get_started(pool, session_id)
                .await
                .map_err(reading("the started session"))?;
            match (&started, &ended) {
                (Some(live), _) => to_json(live),
                (None, Some(session)) => to_json(session),
                (None, None) => return Err(missing(job, "started session")),
            }
        }
        Trigger::ParticipantJoined | Trigger::ParticipantLeft => {
            let attendee = attendance::get(pool, session_id, &job.subject)
                .await
                .map_err(reading("the participant"))?
                .ok_or_else(|| missing(job, "participant"))?;
            let participant = to_json(&attendee);
            match ended.as_ref() {
                Some(session) => session_with(session, "participant", participant),
                None => {
                    let live = live_sessions::get_started(pool, session_id)
                        .await
                        .map_err(reading("the started session"))?;
                    match live {
                        Some(live) => session_with(&live, "participant", participant),
                        // Its start was never received: the participant and the session id are what is known.
                        None => json!({"session_id": session_id, "participant": participant}),
                    }
                }
            }
        }
        Trigger::ArtifactArchived => {
            let session = ended.as_ref().ok_or_else(|| missing(job, "session"))?;
            let archived = artifacts::archived_for_session(pool, session_id)
                .await
                .map_err(reading("the archived files"))?;
            let (artifact, _) = archived
                .into_iter()
                .find(|(artifact, _)| artifact.download_path() == job.subject)
                .ok_or_else(|| missing(job, "archived file"))?;
            let path = format!(
                "/sessions/{}/artifacts/{}",
                crate::domain::limits::path_segment(session_id),
                artifact.download_path()
            );
            let mut file = to_json(&artifact);
            if let Value::Object(fields) = &mut file {
                fields.insert("path".into(), json!(path));
                fields.insert("url".into(), json!(public_url.map(|base| format!("{base}{path}"))));
            }
            session_with(session, "artifact", file)
        }
        Trigger::SessionCompleted => {
            let session = ended.as_ref().ok_or_else(|| missing(job, "session"))?;
            let (completion, files) = match completion.verdict(session, &job.followup).await? {
                Verdict::Ready(completion, files) => (completion, files),
                Verdict::Wait { until, missing } => return Ok(Loaded::Wait { until, missing }),
            };
            let files: Vec<Value> = files.all().map(to_json).collect();
            let mut data = session_with(session, "artifacts", Value::Array(files));
            if let Value::Object(fields) = &mut data {
                fields.insert("completion".into(), to_json(&completion));
            }
            data
        }
    };
    Ok(Loaded::Ready(Box::new(Occurrence {
        trigger: job.trigger,
        session_id: job.session_id.clone(),
        ended,
        data,
        occurred_at: job.created_at,
    })))
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// What the occurrence is about is gone (removed by retention, or never recorded): another attempt finds it no more.
fn missing(job: &ClaimedJob, what: &str) -> FollowupError {
    let subject = if job.subject.is_empty() {
        String::new()
    } else {
        format!(" ({})", job.subject)
    };
    FollowupError::Permanent(anyhow::anyhow!(
        "the {what} of {} in session {}{subject} is not recorded",
        job.trigger,
        job.session_id
    ))
}
