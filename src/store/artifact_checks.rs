//! What the reconciliation sweep asks the API about artifacts: sessions whose artifacts were announced but whose
//! `meeting.ended` never came, recorded sessions whose artifact events may never have come (each asked about once,
//! within RealtimeKit's 7 days), and recording events that named no session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::artifact::Announcement;
use crate::domain::{Classified, classify};
use crate::store::artifacts;
use crate::store::job_specs::JobSpecs;

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

/// The session a recording is known under here, for an event that does not name it.
pub async fn known_recording_session(pool: &PgPool, recording_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT session_id FROM artifacts WHERE kind = 'recording' AND artifact_id = $1 LIMIT 1")
        .bind(recording_id)
        .fetch_optional(pool)
        .await
}

/// A recording event waiting for its session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unattributed {
    pub delivery_id: String,
    pub recording_id: String,
    pub app_id: Option<String>,
}

/// The recording events whose session is to be asked for now, oldest first, at most `limit`.
pub async fn unattributed_due(pool: &PgPool, limit: i64) -> Result<Vec<Unattributed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT delivery_id, recording_id, app_id FROM unattributed_recordings
         WHERE next_attempt_at <= now() ORDER BY next_attempt_at, delivery_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Asked again later: after a minute, doubling with each attempt up to six hours.
pub async fn attribution_failed(pool: &PgPool, delivery_id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE unattributed_recordings SET attempts = attempts + 1, last_error = $2,
             next_attempt_at = now() + least(make_interval(mins => 1) * power(2, least(attempts, 10)),
                                             make_interval(hours => 6))
         WHERE delivery_id = $1",
    )
    .bind(delivery_id)
    .bind(error)
    .execute(pool)
    .await
    .map(drop)
}

/// The recording's session is not to be had (RealtimeKit does not know the recording any more): the delivery becomes
/// `unprocessable` with the reason, and a replay can try again.
pub async fn attribution_impossible(pool: &PgPool, delivery_id: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH done AS (DELETE FROM unattributed_recordings WHERE delivery_id = $1)
         UPDATE deliveries SET status = 'unprocessable', error = $2 WHERE delivery_id = $1",
    )
    .bind(delivery_id)
    .bind(reason)
    .execute(pool)
    .await
    .map(drop)
}

/// Records a waiting recording event under the session the API named: its announcement (read again from the kept
/// bytes) is applied as if the event had named the session, and the delivery row gets the session. False when the
/// delivery is no longer there or its bytes no longer read as a recording event: it stops waiting.
pub async fn attribute(
    pool: &PgPool,
    delivery_id: &str,
    session_id: &str,
    jobs: &JobSpecs,
) -> Result<bool, sqlx::Error> {
    let body: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT d.raw_body FROM deliveries d JOIN unattributed_recordings u USING (delivery_id)
         WHERE d.delivery_id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?
    .flatten();
    let json = body.and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Classified::Artifact(announcement) = classify(json.as_ref()) else {
        // Its delivery is gone (removed by retention while it waited) or reads otherwise now: nothing to attribute.
        sqlx::query("DELETE FROM unattributed_recordings WHERE delivery_id = $1")
            .bind(delivery_id)
            .execute(pool)
            .await?;
        return Ok(false);
    };
    let announcement = Announcement {
        session_id: session_id.to_owned(),
        ..announcement
    };
    artifacts::announce(pool, &announcement, jobs, async |transaction, _changed| {
        sqlx::query(
            "WITH done AS (DELETE FROM unattributed_recordings WHERE delivery_id = $1)
             UPDATE deliveries SET session_id = $2 WHERE delivery_id = $1",
        )
        .bind(delivery_id)
        .bind(session_id)
        .execute(transaction)
        .await
        .map(|done| done.rows_affected() == 1)
    })
    .await
}
