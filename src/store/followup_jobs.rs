//! The follow-up job queue in Postgres. Jobs are inserted with their session (see `deliveries` and `sessions`);
//! this file claims, completes, fails, releases and lists them, and wakes the workers once jobs are committed.
//!
//! A claim sets `status = 'running'`, a lease (`locked_until`) and a fresh `lease_token`. Every later write is
//! guarded by that token, so a worker whose lease expired and whose job was taken over cannot overwrite the new
//! owner's outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::domain::Trigger;
pub use crate::domain::job::{AttemptOutcome, FollowupKind, JobListStatus, JobStatus};

/// The channel the workers `LISTEN` on.
pub const WAKE_CHANNEL: &str = "rtk_followup_jobs";

/// Wakes the workers of every replica: one `NOTIFY`, in a transaction of its own, sent after the jobs' commit.
///
/// Never inside the transaction that queues them: Postgres serializes the commits of every transaction that
/// notifies, holding one database-wide lock from its commit record until the record is flushed, so a `NOTIFY` in
/// every ingest transaction made the writers of all replicas flush one after the other. The jobs are committed
/// already and the workers also poll (`worker.poll_interval_secs`), so a wake-up that fails only delays them: it is
/// logged, never returned as the failure of what queued them.
pub async fn wake_workers(pool: &PgPool) {
    let notified = sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKE_CHANNEL)
        .execute(pool)
        .await;
    if let Err(error) = notified {
        tracing::warn!(%error, "could not wake the follow-up workers; they find the jobs at their next poll");
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub session_id: String,
    pub followup: String,
    #[sqlx(try_from = "String")]
    pub kind: FollowupKind,
    /// What made it run.
    #[sqlx(try_from = "String")]
    pub trigger: Trigger,
    /// Which occurrence of the trigger within the session: the participant's peer id, the archived file's path
    /// below `/sessions/{id}/artifacts/`; empty for the triggers that happen once per session.
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    /// When a queued job is due.
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(crate) const COLUMNS: &str = "id, session_id, followup, kind, trigger, subject, status, attempts, max_attempts, run_at, last_error, created_at, updated_at, finished_at";

/// A job claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub session_id: String,
    pub followup: String,
    #[sqlx(try_from = "String")]
    pub kind: FollowupKind,
    #[sqlx(try_from = "String")]
    pub trigger: Trigger,
    pub subject: String,
    /// When the occurrence was queued: the message's time on every attempt.
    pub created_at: DateTime<Utc>,
    /// Including this one.
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_token: Uuid,
    /// The job's own id for receivers (a notification's `webhook-id`): the same on every attempt.
    pub message_id: Uuid,
}

/// Claims up to `limit` due jobs, oldest due first; other workers skip the rows this one locks.
pub async fn claim(
    pool: &PgPool,
    slots: JobSlots,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE followup_jobs SET status = 'running', attempts = attempts + 1, lease_token = $3,
                locked_until = now() + make_interval(secs => $2), updated_at = now()
         WHERE id IN (
             SELECT id FROM followup_jobs
             WHERE status = 'queued' AND run_at <= now() AND (kind = 'archive') = $4
             ORDER BY run_at, id
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, session_id, followup, kind, trigger, subject, created_at, attempts, max_attempts, lease_token,
                   message_id",
    )
    .bind(limit)
    .bind(lease_secs)
    .bind(Uuid::new_v4())
    .bind(slots == JobSlots::Archive)
    .fetch_all(pool)
    .await
}

/// Which jobs a claim takes: archive copies have slots of their own (`archive.concurrency`), so a slow copy never
/// holds a slot that a notification or a report needs (`worker.concurrency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSlots {
    Archive,
    Others,
}

impl JobSlots {
    pub const ALL: [Self; 2] = [Self::Others, Self::Archive];
}

/// Puts back the jobs whose worker stopped mid-run (the lease ran out): due again at once, or dead when that was
/// the last attempt. Returns how many.
pub async fn reclaim_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let lease_expired = AttemptOutcome::LeaseExpired.as_str();
    Ok(sqlx::query(&format!(
        "WITH reclaimed AS (
             UPDATE followup_jobs SET
                 status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                 finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                 run_at = now(), locked_until = NULL, lease_token = NULL, updated_at = now(),
                 last_error = 'the worker stopped before finishing (lease expired)'
             WHERE id IN (
                 SELECT id FROM followup_jobs
                 WHERE status = 'running' AND locked_until < now()
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, attempts, last_error)
         INSERT INTO followup_attempts (job_id, attempt, outcome, error)
         SELECT reclaimed.id, {}, '{lease_expired}', last_error FROM reclaimed",
        next_attempt_number("reclaimed.id")
    ))
    .execute(pool)
    .await?
    .rows_affected())
}

/// Asks a job to run again, as the `SET` of an upsert on `followup_jobs`: a finished or waiting job is due now with
/// a fresh set of attempts; a running one is marked to be queued again once this run ends (`rerun`).
pub(crate) const RUN_AGAIN: &str = "
    rerun = followup_jobs.status = 'running',
    status = CASE WHEN followup_jobs.status = 'running' THEN 'running' ELSE 'queued' END,
    attempts = CASE WHEN followup_jobs.status = 'running' THEN followup_jobs.attempts ELSE 0 END,
    run_at = CASE WHEN followup_jobs.status = 'running' THEN followup_jobs.run_at ELSE now() END,
    finished_at = NULL, updated_at = now()";

/// Makes the session's job of `kind` run again (see [`RUN_AGAIN`]), when it has one.
pub async fn run_again(pool: &PgPool, session_id: &str, kind: FollowupKind) -> Result<bool, sqlx::Error> {
    let statement = format!(
        "WITH again AS (
             UPDATE followup_jobs SET {RUN_AGAIN} WHERE session_id = $1 AND kind = $2 RETURNING id)
         SELECT count(*) FROM again"
    );
    let count: i64 = sqlx::query_scalar(&statement)
        .bind(session_id)
        .bind(kind.as_str())
        .fetch_one(pool)
        .await?;
    if count > 0 {
        wake_workers(pool).await;
    }
    Ok(count > 0)
}

/// Records a success; a job asked to run again meanwhile is queued again instead (due now, fresh attempts).
pub async fn succeed(pool: &PgPool, job: &ClaimedJob) -> Result<bool, sqlx::Error> {
    let set = "status = CASE WHEN rerun THEN 'queued' ELSE 'succeeded' END,
               finished_at = CASE WHEN rerun THEN NULL ELSE now() END,
               attempts = CASE WHEN rerun THEN 0 ELSE attempts END,
               run_at = CASE WHEN rerun THEN now() ELSE run_at END, rerun = false";
    update_leased(
        sqlx::query(&attempt_recorded(
            &leased_update(set),
            AttemptOutcome::Succeeded,
            "NULL",
        )),
        job,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Records a failed attempt: due again at `retry_at`, or dead when `retry_at` is `None`.
pub async fn fail(
    pool: &PgPool,
    job: &ClaimedJob,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    // A job asked to run again meanwhile is not dead: the new work gets its own attempts.
    let set = "status = CASE WHEN $3::timestamptz IS NULL AND NOT rerun THEN 'dead' ELSE 'queued' END,
               run_at = coalesce($3, now()),
               attempts = CASE WHEN $3::timestamptz IS NULL AND rerun THEN 0 ELSE attempts END,
               finished_at = CASE WHEN $3::timestamptz IS NULL AND NOT rerun THEN now() END,
               last_error = $4, rerun = false";
    update_leased(
        sqlx::query(&attempt_recorded(&leased_update(set), AttemptOutcome::Failed, "$4")),
        job,
    )
    .bind(retry_at)
    .bind(error)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Hands a claimed job back to run at `until`, its attempt not counted: a `session.completed` job waiting for what
/// the session still lacks is not failing.
pub async fn postpone(pool: &PgPool, job: &ClaimedJob, until: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let set = "status = 'queued', attempts = greatest(attempts - 1, 0), run_at = $3, rerun = false";
    update_leased(sqlx::query(&leased_update(set)), job)
        .bind(until)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Makes the session's waiting `session.completed` jobs due now: a file was archived or lost, so they check again.
pub async fn wake_completion(pool: &PgPool, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE followup_jobs SET run_at = now()
         WHERE session_id = $1 AND trigger = 'session.completed' AND status = 'queued' AND run_at > now()",
    )
    .bind(session_id)
    .execute(pool)
    .await
    .map(drop)
}

/// How many of the session's messages of `followup` caused before its completion (its end, its archived files)
/// are still to be sent: `session.completed` goes after them.
pub async fn unsent_before_completion(pool: &PgPool, session_id: &str, followup: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM followup_jobs
         WHERE session_id = $1 AND followup = $2 AND trigger IN ('session.ended', 'artifact.archived')
           AND status IN ('queued', 'running')",
    )
    .bind(session_id)
    .bind(followup)
    .fetch_one(pool)
    .await
}

/// Keeps a long attempt's claim: its lease runs `lease_secs` from now. False when the lease was lost.
pub async fn extend_lease(pool: &PgPool, job: &ClaimedJob, lease_secs: f64) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE followup_jobs SET locked_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.lease_token)
    .bind(lease_secs)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Hands a claimed job back unfinished (at shutdown): due again at once, the interrupted attempt not counted.
pub async fn release(pool: &PgPool, job: &ClaimedJob) -> Result<bool, sqlx::Error> {
    let set = "status = 'queued', attempts = greatest(attempts - 1, 0), run_at = now(),
               last_error = coalesce(last_error, 'interrupted by a shutdown')";
    update_leased(sqlx::query(&leased_update(set)), job)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// An update of a job this worker holds: it ends the lease, and it changes nothing when the lease was lost to
/// another worker (then the caller learns it from the rows affected). `$1` and `$2` are the job and its lease.
fn leased_update(set: &str) -> String {
    format!(
        "UPDATE followup_jobs SET {set}, locked_until = NULL, lease_token = NULL, updated_at = now()
         WHERE id = $1 AND lease_token = $2 AND status = 'running'"
    )
}

/// The number of the attempt being recorded for the job whose id is the SQL expression `job`: its attempts are
/// numbered 1, 2, 3... over its whole life, across retries by an operator and runs asked again (which restart the
/// job's count of `attempts`).
fn next_attempt_number(job: &str) -> String {
    format!("(SELECT count(*) + 1 FROM followup_attempts previous WHERE previous.job_id = {job})::int4")
}

/// `update` (a [`leased_update`]) with the attempt it ends recorded in `followup_attempts`, in the same statement;
/// its rows affected are the update's.
fn attempt_recorded(update: &str, outcome: AttemptOutcome, error: &str) -> String {
    let outcome = outcome.as_str();
    format!(
        "WITH ended AS ({update} RETURNING id)
         INSERT INTO followup_attempts (job_id, attempt, outcome, error)
         SELECT ended.id, {}, '{outcome}', {error} FROM ended",
        next_attempt_number("ended.id")
    )
}

fn update_leased<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    job: &ClaimedJob,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query.bind(job.id).bind(job.lease_token)
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no follow-up job {0}")]
    NotFound(i64),
    #[error("follow-up job {id} is {status}; only a dead or waiting job can be retried")]
    NotRetryable { id: i64, status: JobStatus },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Brings a dead job back (with a fresh set of attempts), or makes a waiting one due now.
pub async fn retry(pool: &PgPool, id: i64) -> Result<Job, RetryError> {
    let retried: Option<Job> = sqlx::query_as(&format!(
        "UPDATE followup_jobs SET status = 'queued', run_at = now(), finished_at = NULL, updated_at = now(),
                attempts = CASE WHEN status = 'dead' THEN 0 ELSE attempts END
         WHERE id = $1 AND status IN ('dead', 'queued')
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if let Some(job) = retried {
        wake_workers(pool).await;
        return Ok(job);
    }
    match get(pool, id).await? {
        Some(job) => Err(RetryError::NotRetryable { id, status: job.status }),
        None => Err(RetryError::NotFound(id)),
    }
}

/// One finished attempt of a follow-up job.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Attempt {
    pub job_id: i64,
    pub attempt: i32,
    #[sqlx(try_from = "String")]
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
    pub finished_at: DateTime<Utc>,
}

/// Every recorded attempt of the session's jobs, oldest first, at most `limit`.
pub async fn attempts_for_session(pool: &PgPool, session_id: &str, limit: i64) -> Result<Vec<Attempt>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.job_id, a.attempt, a.outcome, a.error, a.finished_at
         FROM followup_jobs j JOIN followup_attempts a ON a.job_id = j.id
         WHERE j.session_id = $1 ORDER BY a.id LIMIT $2",
    )
    .bind(session_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM followup_jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The archive jobs of these sessions (the at-risk list's, one query for the page).
pub async fn archive_jobs_of(pool: &PgPool, session_ids: &[&str]) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM followup_jobs WHERE session_id = ANY($1) AND kind = 'archive' ORDER BY id"
    ))
    .bind(session_ids)
    .fetch_all(pool)
    .await
}

pub async fn for_session(pool: &PgPool, session_id: &str) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM followup_jobs WHERE session_id = $1 ORDER BY id"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await
}

/// How many jobs are in each state, for the queue gauges and the console: `due`, `waiting` (backing off),
/// `running`, `dead`. Each count reads a partial index of its own (`followup_jobs_due_idx`, `_lease_idx`,
/// `_dead_idx`), never the succeeded jobs, which are nearly all of them.
pub async fn counts_by_state(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT 'due', count(*) FROM followup_jobs WHERE status = 'queued' AND run_at <= now()
         UNION ALL SELECT 'waiting', count(*) FROM followup_jobs WHERE status = 'queued' AND run_at > now()
         UNION ALL SELECT 'running', count(*) FROM followup_jobs WHERE status = 'running'
         UNION ALL SELECT 'dead', count(*) FROM followup_jobs WHERE status = 'dead'",
    )
    .fetch_all(pool)
    .await
}

/// How long the oldest due job has waited, in seconds (0 when none is due).
pub async fn oldest_due_age_secs(pool: &PgPool) -> Result<f64, sqlx::Error> {
    let age: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - min(run_at))::float8 FROM followup_jobs
         WHERE status = 'queued' AND run_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(age.unwrap_or(0.0))
}
