//! The lists of follow-up jobs that operators read and act on (the API, the console and the CLI): one filter, a
//! page of jobs, their errors grouped, and retrying every job a filter matches.

use sqlx::{PgPool, Postgres, QueryBuilder};

use super::followup_jobs::{self, COLUMNS, Job, JobListStatus};

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobListStatus>,
    pub session_id: Option<String>,
    /// Only the jobs of this follow-up (its configured name).
    pub followup: Option<String>,
}

impl JobFilter {
    fn push_conditions(&self, query: &mut QueryBuilder<'_, Postgres>) {
        match self.status {
            None => {}
            // The `followup_jobs_failing_idx` predicate.
            Some(JobListStatus::Failing) => {
                query.push(" AND status = 'queued' AND last_error IS NOT NULL");
            }
            Some(JobListStatus::Due) => {
                query.push(" AND status = 'queued' AND run_at <= now()");
            }
            Some(JobListStatus::Queued) => {
                query.push(" AND status = 'queued'");
            }
            Some(JobListStatus::Running) => {
                query.push(" AND status = 'running'");
            }
            Some(JobListStatus::Succeeded) => {
                query.push(" AND status = 'succeeded'");
            }
            Some(JobListStatus::Dead) => {
                query.push(" AND status = 'dead'");
            }
        }
        if let Some(session_id) = &self.session_id {
            query.push(" AND session_id = ").push_bind(session_id.clone());
        }
        if let Some(followup) = &self.followup {
            query.push(" AND followup = ").push_bind(followup.clone());
        }
    }
}

/// A page of jobs, newest first; `after_id` is the last id of the previous page.
pub async fn list(
    pool: &PgPool,
    filter: &JobFilter,
    after_id: Option<i64>,
    limit: u16,
) -> Result<(Vec<Job>, Option<i64>), sqlx::Error> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM followup_jobs WHERE TRUE"));
    filter.push_conditions(&mut query);
    if let Some(after) = after_id {
        query.push(" AND id < ").push_bind(after);
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit) + 1);
    let mut jobs: Vec<Job> = query.build_query_as().fetch_all(pool).await?;
    let next = if jobs.len() > usize::from(limit) {
        jobs.truncate(usize::from(limit));
        jobs.last().map(|j| j.id)
    } else {
        None
    };
    Ok((jobs, next))
}

/// The most jobs [`error_groups`] reads: the groups of a larger list are those of its newest jobs.
pub const ERROR_GROUPS_READ: i64 = 10_000;

/// The last errors of the jobs matching `filter`, the same text counted once with how many jobs share it, the
/// commonest first (at most `limit` groups, over the newest [`ERROR_GROUPS_READ`] jobs).
pub async fn error_groups(pool: &PgPool, filter: &JobFilter, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT last_error, count(*) FROM (SELECT last_error FROM followup_jobs WHERE last_error IS NOT NULL",
    );
    filter.push_conditions(&mut query);
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(ERROR_GROUPS_READ)
        .push(") AS newest GROUP BY last_error ORDER BY count(*) DESC, last_error LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// How many jobs `retry_matching` would retry now, counted up to `max` (what the console's confirmation states).
pub async fn count_retryable(pool: &PgPool, filter: &JobFilter, max: i64) -> Result<i64, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM followup_jobs WHERE status IN ('dead', 'queued')");
    filter.push_conditions(&mut query);
    query.push(" LIMIT ").push_bind(max).push(") AS matching");
    query.build_query_scalar().fetch_one(pool).await
}

/// Retries every dead or waiting job matching `filter`, newest first, at most `max` of them (a running job is
/// left to its worker); the number retried. One statement: a job is retried once however often this is pressed.
pub async fn retry_matching(pool: &PgPool, filter: &JobFilter, max: i64) -> Result<u64, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new("WITH picked AS (SELECT id FROM followup_jobs WHERE status IN ('dead', 'queued')");
    filter.push_conditions(&mut query);
    query.push(" ORDER BY id DESC LIMIT ").push_bind(max).push(
        " FOR UPDATE SKIP LOCKED)
         UPDATE followup_jobs j SET status = 'queued', run_at = now(), finished_at = NULL, updated_at = now(),
                attempts = CASE WHEN j.status = 'dead' THEN 0 ELSE j.attempts END
         FROM picked WHERE j.id = picked.id",
    );
    let retried = query.build().execute(pool).await?.rows_affected();
    if retried > 0 {
        followup_jobs::wake_workers(pool).await;
    }
    Ok(retried)
}
