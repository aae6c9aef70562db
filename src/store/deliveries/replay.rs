//! Replaying a recorded delivery: its stored bytes read again and recorded as they now read.

use serde::Serialize;
use sqlx::PgPool;

use super::batch::MERGE_ATTENDANCE;
use super::outcome::Outcome;
use super::read::get;
use crate::domain::artifact::Announcement;
use crate::domain::live_session::MEETING_STARTED;
use crate::domain::livestream::LIVESTREAMING_STATUS_UPDATE;
use crate::domain::{Apps, Classified, Reading, read_delivery};
use crate::store::followup_jobs;
use crate::store::job_specs::{self, JobSpecs};
use crate::store::sessions::{NEW_SESSION_WITH_JOBS, bind_session_with_jobs};
use crate::store::{artifact_checks, artifacts};

/// What a replay made of a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub delivery_id: String,
    /// The outcome before the replay.
    pub previous_outcome: Outcome,
    pub outcome: Outcome,
    pub session_id: Option<String>,
    /// Why it is still `unprocessable` (or `foreign`), when it is.
    pub reason: Option<String>,
}

/// Reads the stored bytes again (after a parser fix, or once their app is configured) and records what they now
/// say: a `meeting.ended` records its session and follow-ups, unless the session is already recorded; another event
/// becomes `ignored`; a body still unusable stays `unprocessable` with the new reason, and one still of an app that
/// is not configured stays `foreign`. Idempotent: replaying twice records nothing twice.
pub async fn replay(
    pool: &PgPool,
    delivery_id: &str,
    jobs: &JobSpecs,
    apps: &Apps,
) -> Result<Option<Replayed>, sqlx::Error> {
    let Some(stored) = get(pool, delivery_id).await? else {
        return Ok(None);
    };
    let previous = stored.summary.outcome;
    let json: Option<serde_json::Value> = serde_json::from_slice(stored.body.bytes()).ok();
    let Reading { app_id, classified } = read_delivery(json.as_ref(), apps);
    let app_id = app_id.as_deref();
    let classified = match classified {
        Classified::Artifact(announcement) if announcement.needs_session() => {
            let known = artifact_checks::known_recording_session(pool, &announcement.artifact_id).await?;
            Classified::Artifact(Announcement {
                session_id: known.unwrap_or_default(),
                ..announcement
            })
        }
        other => other,
    };
    let update = match &classified {
        Classified::Artifact(announcement) if announcement.needs_session() => {
            // Its session is still to be asked of the API: it waits (again) for the sweep.
            sqlx::query_as(
                "WITH waiting AS (
                     INSERT INTO unattributed_recordings (delivery_id, recording_id, app_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $4, error = NULL, replayed_at = now(), app_id = $3
                 WHERE delivery_id = $1
                 RETURNING status, error",
            )
            .bind(delivery_id)
            .bind(&announcement.artifact_id)
            .bind(app_id)
            .bind(announcement.kind.event())
            .fetch_one(pool)
            .await
        }
        Classified::EndedSession(session) => {
            let statement = format!(
                "WITH {}
                 UPDATE deliveries SET
                     status = CASE WHEN EXISTS (SELECT 1 FROM new_session) OR status = 'stored' THEN 'stored'
                                   ELSE 'duplicate' END,
                     event = 'meeting.ended', session_id = $1, error = NULL, replayed_at = now(), app_id = $17
                 WHERE delivery_id = $12
                 RETURNING status",
                *NEW_SESSION_WITH_JOBS
            );
            let webhook_id = stored.summary.webhook_id.as_deref();
            bind_session_with_jobs(
                sqlx::query_scalar(&statement),
                session,
                Some((delivery_id, webhook_id)),
                jobs,
            )
            .bind(app_id)
            .fetch_one(pool)
            .await
            // The update clears the error.
            .map(|status: String| (status, None))
        }
        Classified::Artifact(announcement) => {
            artifacts::announce(pool, announcement, jobs, async |transaction, changed| {
                sqlx::query_as(
                    "UPDATE deliveries SET
                         status = CASE WHEN $2 OR status = 'stored' THEN 'stored' ELSE 'duplicate' END,
                         event = $3, session_id = $4, error = NULL, replayed_at = now(), app_id = $5
                     WHERE delivery_id = $1
                     RETURNING status, error",
                )
                .bind(delivery_id)
                .bind(changed)
                .bind(announcement.kind.event())
                .bind(&announcement.session_id)
                .bind(app_id)
                .fetch_one(transaction)
                .await
            })
            .await
        }
        Classified::Participant { event, update } => {
            // Merged as in `record_batch`: applying it again changes nothing.
            let statement = format!(
                "WITH {listeners}, attended AS (
                     INSERT INTO attendance AS a (session_id, peer_id, display_name, custom_participant_id,
                                                  joined_at, left_at)
                     VALUES ($2, $3, $4, $5, $6, $7)
                     {MERGE_ATTENDANCE}
                 ), participant_jobs AS (
                     INSERT INTO followup_jobs (session_id, followup, kind, trigger, subject, max_attempts)
                     SELECT $2, l.name, l.kind, l.trigger, $3, $11 FROM listeners l WHERE {listening}
                     ON CONFLICT DO NOTHING
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $8, session_id = $2, error = NULL, replayed_at = now(), app_id = $9
                 WHERE delivery_id = $1
                 RETURNING status, error",
                listeners = job_specs::listeners("$10"),
                listening = job_specs::listening(
                    "CASE $8 WHEN 'meeting.participantJoined' THEN 'participant.joined' ELSE 'participant.left' END",
                    "$9",
                    "NULL"
                ),
            );
            sqlx::query_as(&statement)
                .bind(delivery_id)
                .bind(&update.session_id)
                .bind(&update.peer_id)
                .bind(&update.display_name)
                .bind(&update.custom_participant_id)
                .bind(update.joined_at)
                .bind(update.left_at)
                .bind(*event)
                .bind(app_id)
                .bind(jobs.json())
                .bind(jobs.max_attempts)
                .fetch_one(pool)
                .await
        }
        Classified::Started(started) => {
            // Once: a session known live stays as it is (its checks kept).
            let statement = format!(
                "WITH {listeners}, live AS (
                     INSERT INTO live_sessions (session_id, meeting_id, meeting_title, room_name, organization_id,
                                                organization_name, meeting_created_at, started_at, delivery_id)
                     VALUES ($2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), $1)
                     ON CONFLICT DO NOTHING
                 ), started_jobs AS (
                     INSERT INTO followup_jobs (session_id, followup, kind, trigger, max_attempts)
                     SELECT $2, l.name, l.kind, l.trigger, $13 FROM listeners l WHERE {listening}
                     ON CONFLICT DO NOTHING
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $10, session_id = $2, error = NULL, replayed_at = now(), app_id = $11
                 WHERE delivery_id = $1
                 RETURNING status, error",
                listeners = job_specs::listeners("$12"),
                listening = job_specs::listening("'session.started'", "$11", "NULL"),
            );
            sqlx::query_as(&statement)
                .bind(delivery_id)
                .bind(&started.session_id)
                .bind(&started.meeting_id)
                .bind(&started.meeting_title)
                .bind(&started.room_name)
                .bind(&started.organization_id)
                .bind(&started.organization_name)
                .bind(started.meeting_created_at)
                .bind(started.started_at)
                .bind(MEETING_STARTED)
                .bind(app_id)
                .bind(jobs.json())
                .bind(jobs.max_attempts)
                .fetch_one(pool)
                .await
        }
        Classified::Livestream(update) => {
            // Once: an update recorded before is not recorded again.
            sqlx::query_as(
                "WITH livestream AS (
                     INSERT INTO livestream_updates (delivery_id, session_id, stream_id, status, playback_url)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $6, session_id = $2, error = NULL, replayed_at = now(), app_id = $7
                 WHERE delivery_id = $1
                 RETURNING status, error",
            )
            .bind(delivery_id)
            .bind(&update.session_id)
            .bind(&update.stream_id)
            .bind(&update.status)
            .bind(&update.playback_url)
            .bind(LIVESTREAMING_STATUS_UPDATE)
            .bind(app_id)
            .fetch_one(pool)
            .await
        }
        Classified::Ignored { event } => {
            let set = "status = CASE WHEN status IN ('unprocessable', 'foreign') THEN 'ignored' ELSE status END, \
                       event = $2, error = NULL";
            update_replayed(pool, delivery_id, set, event, app_id).await
        }
        Classified::Unprocessable { reason, .. } => mark_still_unprocessable(pool, delivery_id, reason, app_id).await,
        Classified::Foreign { reason, .. } => {
            // Its app is still not configured: it stays as it was, with the reason of now.
            let set = "error = CASE WHEN status = 'foreign' THEN $2 ELSE error END";
            update_replayed(pool, delivery_id, set, reason, None).await
        }
    };
    let (status, error): (String, Option<String>) = match update {
        Ok(row) => row,
        Err(error) if crate::store::is_transient(&error) => return Err(error),
        Err(sqlx::Error::Database(refused)) => {
            let reason = format!("the database refused it: {}", refused.message());
            mark_still_unprocessable(pool, delivery_id, &reason, app_id).await?
        }
        Err(error) => return Err(error),
    };
    let outcome = Outcome::from_column(&status)?;
    if outcome == Outcome::Stored {
        followup_jobs::wake_workers(pool).await;
    }
    let session_id = match &classified {
        Classified::EndedSession(_) | Classified::Artifact(_) if outcome != Outcome::Unprocessable => {
            classified.session_id().map(str::to_owned)
        }
        _ => stored.summary.session_id,
    };
    let reason = error.filter(|_| matches!(outcome, Outcome::Unprocessable | Outcome::Foreign));
    Ok(Some(Replayed {
        delivery_id: delivery_id.to_owned(),
        previous_outcome: previous,
        outcome,
        session_id,
        reason,
    }))
}

/// An unusable body stays (or, once its app is configured, becomes) `unprocessable`, with the reason of now.
async fn mark_still_unprocessable(
    pool: &PgPool,
    delivery_id: &str,
    reason: &str,
    app_id: Option<&str>,
) -> Result<(String, Option<String>), sqlx::Error> {
    let set = "error = CASE WHEN status IN ('unprocessable', 'foreign') THEN $2 ELSE error END, \
               status = CASE WHEN status = 'foreign' THEN 'unprocessable' ELSE status END";
    update_replayed(pool, delivery_id, set, reason, app_id).await
}

/// Records what a replay made of a delivery (`set`, with `$2` = `value`; the app id when it has one) and reads
/// back its status and error.
async fn update_replayed(
    pool: &PgPool,
    delivery_id: &str,
    set: &str,
    value: &str,
    app_id: Option<&str>,
) -> Result<(String, Option<String>), sqlx::Error> {
    let statement = format!(
        "UPDATE deliveries SET {set}, replayed_at = now(), app_id = coalesce($3, app_id)
         WHERE delivery_id = $1 RETURNING status, error"
    );
    sqlx::query_as(&statement)
        .bind(delivery_id)
        .bind(value)
        .bind(app_id)
        .fetch_one(pool)
        .await
}
