//! The follow-up worker pool inside `serve`. It claims due jobs (`FOR UPDATE SKIP LOCKED`, under a lease), runs
//! each with a timeout, and records the outcome: success, a retry after exponential backoff with jitter, or `dead`
//! after `max_attempts` or a permanent failure. It wakes on `LISTEN/NOTIFY` and also polls, and it takes over jobs
//! whose worker died once their lease expires.
//!
//! On shutdown it stops claiming, lets running jobs finish within the grace period, and hands the rest back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{Settings, WorkerSettings};
use crate::followups::message::event_source;
use crate::followups::occurrence::Loaded;
use crate::followups::{FollowupContext, FollowupError, JobInfo, Registry, completion, occurrence};
use crate::realtimekit::client::AppClients;
use crate::store::artifacts;
use crate::store::followup_jobs::{self, ClaimedJob, FollowupKind, JobSlots};
use crate::store::job_specs::JobSpecs;

/// How long before its files expire an archive job stops retrying past `worker.max_attempts` (the files are then
/// listed as at risk, with a Retry).
const ARCHIVE_GIVE_UP_BEFORE_EXPIRY: Duration = Duration::from_secs(3600);

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    WillRetry,
    Dead,
    /// A `session.completed` whose session is not complete yet: it waits, no attempt counted.
    Postponed,
}

/// What a run did, when it did not fail.
enum Ran {
    Done,
    Postponed(chrono::DateTime<Utc>),
}

pub struct Worker {
    pool: PgPool,
    registry: Registry,
    http: reqwest::Client,
    realtimekit: Arc<AppClients>,
    settings: WorkerSettings,
    /// `archive.concurrency`: archive runs at once, beside `worker.concurrency` other jobs.
    archive_concurrency: usize,
    /// `server.public_url`, without its trailing slash: where archived files are served from.
    public_url: Option<String>,
    event_source: Arc<str>,
    jobs: Arc<JobSpecs>,
}

impl Worker {
    pub fn new(pool: PgPool, registry: Registry, realtimekit: Arc<AppClients>, settings: &Settings) -> Self {
        let public_url = settings.server.public_url.as_ref();
        Self {
            pool,
            jobs: Arc::new(registry.job_specs(settings.worker.max_attempts)),
            registry,
            http: crate::followups::outbound_client(),
            realtimekit,
            settings: settings.worker.clone(),
            archive_concurrency: settings.archive.concurrency.get(),
            public_url: public_url.map(|url| url.as_str().trim_end_matches('/').to_owned()),
            event_source: event_source(public_url).into(),
        }
    }

    fn slots_of(&self, slots: JobSlots) -> usize {
        match slots {
            JobSlots::Archive => self.archive_concurrency,
            JobSlots::Others => self.settings.concurrency.get(),
        }
    }

    fn lease_secs(&self) -> f64 {
        self.settings.lease.as_secs_f64()
    }

    /// Claims and runs every job that is due now, batch after batch, until none is left; returns how many ran.
    /// The deterministic way for tests and one-off commands to drive the queue.
    pub async fn run_pending(&self) -> Result<usize, sqlx::Error> {
        followup_jobs::reclaim_expired(&self.pool).await?;
        let mut ran = 0;
        loop {
            let mut jobs = Vec::new();
            for slots in JobSlots::ALL {
                let limit = self.slots_of(slots) as i64;
                jobs.extend(followup_jobs::claim(&self.pool, slots, limit, self.lease_secs()).await?);
            }
            if jobs.is_empty() {
                return Ok(ran);
            }
            ran += jobs.len();
            let attempts = jobs.into_iter().map(|job| self.attempt(job));
            futures_util::future::join_all(attempts).await;
        }
    }

    /// An archive job keeps retrying past `worker.max_attempts` while its session's files can still be saved: until
    /// [`ARCHIVE_GIVE_UP_BEFORE_EXPIRY`] before the soonest of them expires. A store down for a day costs no file.
    async fn files_can_still_be_saved(&self, job: &ClaimedJob) -> bool {
        if job.kind != FollowupKind::Archive {
            return false;
        }
        match artifacts::soonest_unarchived_expiry(&self.pool, &job.session_id).await {
            Ok(Some(expiry)) => {
                let next_try = Utc::now()
                    + chrono::Duration::from_std(self.settings.backoff_max + ARCHIVE_GIVE_UP_BEFORE_EXPIRY)
                        .unwrap_or(chrono::Duration::MAX);
                expiry > next_try
            }
            Ok(None) => false,
            Err(error) => {
                // Not knowing is no reason to give up: the next attempt asks again.
                tracing::warn!(%error, "reading when the session's files expire failed");
                true
            }
        }
    }

    /// Runs one claimed job and records how it ended.
    pub async fn attempt(&self, job: ClaimedJob) -> AttemptOutcome {
        let span = tracing::info_span!(
            "followup",
            job_id = job.id,
            session_id = %job.session_id,
            followup = %job.followup,
            attempt = job.attempts
        );
        self.attempt_and_record(job).instrument(span).await
    }

    async fn attempt_and_record(&self, job: ClaimedJob) -> AttemptOutcome {
        let result = self.run(&job).await;
        let retries_left = job.attempts < job.max_attempts
            || (matches!(result, Err(FollowupError::Retryable(_))) && self.files_can_still_be_saved(&job).await);
        let (outcome, recorded) = match result {
            Ok(Ran::Postponed(until)) => (
                AttemptOutcome::Postponed,
                followup_jobs::postpone(&self.pool, &job, until).await,
            ),
            Ok(Ran::Done) => {
                tracing::info!("follow-up succeeded");
                (
                    AttemptOutcome::Succeeded,
                    followup_jobs::succeed(&self.pool, &job).await,
                )
            }
            Err(error @ FollowupError::Retryable(_)) if retries_left => {
                let delay = backoff(&self.settings, job.attempts);
                tracing::warn!(%error, retry_in_secs = delay.as_secs(), "follow-up failed; it will be retried");
                let retry_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                (
                    AttemptOutcome::WillRetry,
                    followup_jobs::fail(&self.pool, &job, &error.to_string(), Some(retry_at)).await,
                )
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    attempts = job.attempts,
                    "follow-up is dead; `rtk-sessions followups retry {}` (or POST /followups/{}/retry) brings it back",
                    job.id,
                    job.id
                );
                (
                    AttemptOutcome::Dead,
                    followup_jobs::fail(&self.pool, &job, &error.to_string(), None).await,
                )
            }
        };
        let label = match outcome {
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::WillRetry => "retry",
            AttemptOutcome::Dead => "dead",
            AttemptOutcome::Postponed => "postponed",
        };
        crate::observability::followup_attempt(job.kind, label);
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the job's lease had expired and another worker took it over; outcome not recorded")
            }
            // The lease will expire and the job will run again: at least once, never lost.
            Err(error) => {
                tracing::error!(%error, "could not record the follow-up's outcome; it will run again after its lease")
            }
        }
        outcome
    }

    async fn run(&self, job: &ClaimedJob) -> Result<Ran, FollowupError> {
        let Some(followup) = self.registry.get(&job.followup) else {
            return Err(FollowupError::Permanent(anyhow::anyhow!(
                "no follow-up named {:?} is configured (any more); add it back and retry the job",
                job.followup
            )));
        };
        let completion = completion::Check {
            db: &self.pool,
            clients: &self.realtimekit,
            timeout: self.settings.completion_timeout(),
            archive_on: self.jobs.name_of(FollowupKind::Archive).is_some(),
        };
        let occurrence = match occurrence::load(&self.pool, job, self.public_url.as_deref(), &completion).await? {
            Loaded::Ready(occurrence) => occurrence,
            Loaded::Wait { until, missing } => {
                tracing::info!(missing = %missing.join("; "), %until, "the session is not complete yet; waiting");
                return Ok(Ran::Postponed(until));
            }
        };
        let context = FollowupContext {
            http: self.http.clone(),
            db: self.pool.clone(),
            realtimekit: self.realtimekit.clone(),
            job: JobInfo {
                id: job.id,
                attempt: job.attempts,
                message_id: job.message_id,
            },
            event_source: self.event_source.clone(),
            jobs: self.jobs.clone(),
        };
        let (timeout, setting) = match followup.attempt_timeout() {
            Some(own) => (own, "its own attempt timeout"),
            None => (self.settings.attempt_timeout, "worker.attempt_timeout_secs"),
        };
        let attempt = tokio::time::timeout(timeout, followup.run(&occurrence, &context));
        match self.keeping_the_lease(job, attempt).await {
            Ok(result) => result.map(|()| Ran::Done),
            Err(_) => Err(FollowupError::Retryable(anyhow::anyhow!(
                "the attempt took longer than {setting} ({}s)",
                timeout.as_secs()
            ))),
        }
    }

    /// Runs `attempt` while renewing the job's lease every third of it, so that an attempt longer than the lease
    /// (a large recording to archive) keeps its job; a worker that dies stops renewing, and the job is taken over.
    async fn keeping_the_lease<T>(&self, job: &ClaimedJob, attempt: impl Future<Output = T>) -> T {
        let mut attempt = std::pin::pin!(attempt);
        let mut renew = tokio::time::interval(self.settings.lease / 3);
        renew.tick().await; // The first tick is immediate; the claim has just set the lease.
        loop {
            tokio::select! {
                result = &mut attempt => return result,
                _ = renew.tick() => {
                    if let Err(error) = followup_jobs::extend_lease(&self.pool, job, self.lease_secs()).await {
                        tracing::warn!(%error, "could not renew the job's lease");
                    }
                }
            }
        }
    }

    /// The pool: runs until `shutdown`, then gives running jobs `grace` to finish and hands back the rest.
    pub async fn run_until_stopped(self: Arc<Self>, shutdown: CancellationToken, grace: Duration) {
        let mut listener = self.listen().await;
        let slots = JobSlots::ALL.map(|class| (class, Arc::new(Semaphore::new(self.slots_of(class)))));
        let running: Arc<Mutex<HashMap<i64, ClaimedJob>>> = Arc::default();
        let mut tasks = JoinSet::new();
        let poll = self.settings.poll_interval;
        let mut next_reclaim = tokio::time::Instant::now();

        while !shutdown.is_cancelled() {
            if tokio::time::Instant::now() >= next_reclaim {
                match followup_jobs::reclaim_expired(&self.pool).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(jobs = n, "took over follow-up jobs whose worker stopped mid-run"),
                    Err(error) => tracing::warn!(%error, "could not look for abandoned follow-up jobs"),
                }
                next_reclaim = tokio::time::Instant::now() + poll;
            }
            for (class, slots) in &slots {
                let free = slots.available_permits();
                if free == 0 {
                    continue;
                }
                match followup_jobs::claim(&self.pool, *class, free as i64, self.lease_secs()).await {
                    Ok(jobs) => {
                        for job in jobs {
                            let permit = slots.clone().try_acquire_owned().expect("a slot per claimed job");
                            running
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(job.id, job.clone());
                            let (worker, running) = (self.clone(), running.clone());
                            tasks.spawn(async move {
                                let id = job.id;
                                worker.attempt(job).await;
                                running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                                drop(permit);
                            });
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not claim follow-up jobs; trying again shortly"),
                }
            }
            // A slot freeing up, a notification or the poll brings the next claims: whatever class filled its
            // slots, the others are claimed as soon as their jobs are due.
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(poll) => {}
                _ = tasks.join_next(), if !tasks.is_empty() => {}
                notification = recv(&mut listener) => {
                    if notification.is_err() {
                        // The connection dropped: poll until it is back.
                        listener = None;
                    }
                }
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
        }

        if !tasks.is_empty() {
            tracing::info!(
                jobs = tasks.len(),
                grace_secs = grace.as_secs(),
                "waiting for running follow-ups to finish"
            );
            let finished = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
            if finished.is_err() {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
        let unfinished: Vec<ClaimedJob> = running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, job)| job)
            .collect();
        for job in unfinished {
            match followup_jobs::release(&self.pool, &job).await {
                Ok(_) => tracing::info!(job_id = job.id, "handed an unfinished follow-up back to the queue"),
                Err(error) => {
                    tracing::warn!(job_id = job.id, %error, "could not hand back a follow-up; it will run again after its lease")
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok()?;
        listener.listen(followup_jobs::WAKE_CHANNEL).await.ok()?;
        Some(listener)
    }
}

async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(listener) => listener.recv().await.map(drop),
        None => std::future::pending().await,
    }
}

/// `backoff_initial * 2^(attempt-1)`, capped at `backoff_max`, then between half and all of it.
pub fn backoff(settings: &WorkerSettings, attempt: i32) -> Duration {
    let exponent = (attempt.max(1) - 1).min(30) as u32;
    let full = settings
        .backoff_initial
        .saturating_mul(1 << exponent)
        .min(settings.backoff_max);
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_cap_with_jitter() {
        let settings = WorkerSettings {
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            ..crate::config::Settings::default().worker
        };
        for (attempt, full) in [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 60.0), (12, 60.0)] {
            let wait = backoff(&settings, attempt).as_secs_f64();
            assert!(wait >= full / 2.0 && wait <= full, "attempt {attempt}: {wait}");
        }
    }
}
