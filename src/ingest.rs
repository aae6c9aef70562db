//! Where verified deliveries go to be recorded: straight to the database one transaction each, or through group
//! commit, where concurrent deliveries are gathered into one transaction whose commit acknowledges all of them.
//!
//! Group commit: requests queue their delivery with a reply channel; a few writer tasks each take whatever is
//! queued (up to `ingest.batch_max`, waiting at most `ingest.batch_window_micros` for more) and record it with one
//! statement. Under load, the queue fills while a batch is being written, so batches grow with the load and a lone
//! request never waits for company. A writer whose batch is not full keeps gathering while another writer's batch
//! is in the database: a second batch written at once only when the first one filled up, not two half-empty ones.
//! Most of a batch's cost in the database is per statement (plan start-up, commit, flush), so a batch of 32 costs
//! far less per delivery than two of 16.
//!
//! The jobs a delivery queues wake the workers after its commit, at most every [`WAKE_INTERVAL`] from one service
//! (see [`WorkerWakeups`]).
//!
//! One delivery never fails the others: when a batch fails for anything but an outage, its deliveries are recorded
//! one by one. A delivery the database refuses on its own (a value a constraint refuses, say) is recorded as
//! `unprocessable` with its exact bytes and the database's reason, and answered 200: a signed body is never refused
//! forever. Only a genuine outage (see `store::is_transient`) is answered with a retryable 5xx, and then nothing of
//! the delivery was recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgPool, Postgres};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::IngestSettings;
use crate::store;
use crate::store::deliveries::{self, Outcome, VerifiedDelivery};
use crate::store::followup_jobs;
use crate::store::job_specs::JobSpecs;

/// The shortest time between two wake-ups of the workers sent by one service's ingest (see [`WorkerWakeups`]).
pub const WAKE_INTERVAL: Duration = Duration::from_millis(100);

/// Why a delivery was not recorded; always worth a retry by the sender.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("the database failed: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("the service is shutting down")]
    ShuttingDown,
}

struct Pending {
    delivery: VerifiedDelivery,
    reply: oneshot::Sender<Result<Outcome, IngestError>>,
}

#[derive(Clone)]
pub struct Ingest {
    recorder: Arc<Recorder>,
    queue: Option<mpsc::Sender<Pending>>,
}

/// What recording a delivery needs, whichever way it goes (a batch or on its own).
struct Recorder {
    pool: PgPool,
    jobs: Arc<JobSpecs>,
    /// `ingest.foreign_deliveries_kept`.
    foreign_kept: u32,
    wakeups: WorkerWakeups,
}

/// Wakes the follow-up workers (of every replica, through `followup_jobs::wake_workers`) once deliveries that may
/// have queued jobs are committed: the first time at once, then at most once every [`WAKE_INTERVAL`], however many
/// commits ask in between. Each wake-up is a transaction whose commit Postgres serializes with every other
/// notifying commit; one per batch would be hundreds a second under load, for workers that claim every due job
/// when woken once.
#[derive(Clone)]
struct WorkerWakeups {
    wanted: mpsc::Sender<()>,
}

impl WorkerWakeups {
    /// The sending task stops once every handle is dropped.
    fn start(pool: PgPool) -> Self {
        // One slot: a wake-up asked for while one is waiting to be sent is the same wake-up.
        let (wanted, mut asked) = mpsc::channel(1);
        tokio::spawn(async move {
            while asked.recv().await.is_some() {
                followup_jobs::wake_workers(&pool).await;
                tokio::time::sleep(WAKE_INTERVAL).await;
            }
        });
        Self { wanted }
    }

    /// After the commit of `outcomes`: asks for a wake-up when one of them recorded something new.
    fn after(&self, outcomes: impl IntoIterator<Item = Outcome>) {
        if outcomes.into_iter().any(|outcome| outcome == Outcome::Stored) {
            let _ = self.wanted.try_send(());
        }
    }
}

impl Ingest {
    /// Starts the writers when group commit is on (`batch_max > 1`); they stop once every `Ingest` is dropped.
    pub fn start(pool: PgPool, jobs: Arc<JobSpecs>, settings: &IngestSettings) -> Self {
        let recorder = Arc::new(Recorder {
            wakeups: WorkerWakeups::start(pool.clone()),
            pool,
            jobs,
            foreign_kept: settings.foreign_deliveries_kept,
        });
        if settings.batch_max.get() == 1 {
            return Self { recorder, queue: None };
        }
        let (sender, receiver) = mpsc::channel(settings.queue_capacity.get());
        let receiver = Arc::new(Mutex::new(receiver));
        let in_flight = Arc::new(BatchesInFlight::default());
        for _ in 0..settings.writers.get() {
            tokio::spawn(write_batches(
                recorder.clone(),
                receiver.clone(),
                in_flight.clone(),
                settings.batch_max.get(),
                Duration::from_micros(settings.batch_window_micros),
            ));
        }
        Self {
            recorder,
            queue: Some(sender),
        }
    }

    /// The follow-up jobs every newly recorded session gets.
    pub fn jobs(&self) -> &JobSpecs {
        &self.recorder.jobs
    }

    pub async fn record(&self, delivery: VerifiedDelivery) -> Result<Outcome, IngestError> {
        // A recording event that names no session looks its session up first, and a foreign delivery is counted
        // against its bound: each has its own transaction.
        let alone = delivery.is_recorded_alone();
        let Some(queue) = self.queue.as_ref().filter(|_| !alone) else {
            return self.recorder.one(delivery).await;
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending { delivery, reply })
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        answer.await.unwrap_or(Err(IngestError::ShuttingDown))
    }
}

/// How many writers have a batch in the database, and a signal each time one of them is done.
#[derive(Default)]
struct BatchesInFlight {
    count: AtomicUsize,
    finished: Notify,
}

impl BatchesInFlight {
    /// Counts a batch in until the guard is dropped (the batch answered, or its task gone).
    fn enter(&self) -> InFlight<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }
}

struct InFlight<'a>(&'a BatchesInFlight);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.finished.notify_waiters();
    }
}

/// Adds to `batch` what arrives while another writer's batch is in the database, until `batch` is full or that
/// batch is done: the database is busy anyway, and one bigger batch afterwards costs less than a small one now.
async fn gather_while_busy(
    receiver: &mut mpsc::Receiver<Pending>,
    batch: &mut Vec<Pending>,
    batch_max: usize,
    in_flight: &BatchesInFlight,
) {
    while batch.len() < batch_max {
        // Listening before looking at the count: a batch that finishes in between still wakes us.
        let finished = in_flight.finished.notified();
        tokio::pin!(finished);
        finished.as_mut().enable();
        if in_flight.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let room = batch_max - batch.len();
        tokio::select! {
            received = receiver.recv_many(batch, room) => if received == 0 { return },
            () = &mut finished => return,
        }
    }
}

async fn write_batches(
    recorder: Arc<Recorder>,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    in_flight: Arc<BatchesInFlight>,
    batch_max: usize,
    window: Duration,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(batch_max);
    let mut connection = KeptConnection::new(recorder.pool.clone());
    loop {
        let _in_flight = {
            // One writer gathers at a time; the others are writing their batch meanwhile.
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, batch_max).await == 0 {
                return; // Every sender is gone: the service has stopped.
            }
            gather_while_busy(&mut receiver, &mut batch, batch_max, &in_flight).await;
            if batch.len() < batch_max && !window.is_zero() {
                let deadline = tokio::time::Instant::now() + window;
                while batch.len() < batch_max {
                    let room = batch_max - batch.len();
                    let more = tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, room));
                    match more.await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
            // Counted before the next writer may look.
            in_flight.enter()
        };
        let (deliveries, replies): (Vec<VerifiedDelivery>, Vec<_>) =
            batch.drain(..).map(|pending| (pending.delivery, pending.reply)).unzip();
        crate::observability::ingest_batch(deliveries.len());
        if deliveries.len() > 1 {
            match connection.record_batch(&deliveries, &recorder.jobs).await {
                Ok(outcomes) => {
                    recorder.wakeups.after(outcomes.iter().copied());
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                    continue;
                }
                Err(error) if store::is_transient(&error) => {
                    let error = IngestError::Database(Arc::new(error));
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                    continue;
                }
                Err(error) => {
                    let size = deliveries.len();
                    tracing::warn!(%error, size, "a batch was refused; recording its deliveries one by one");
                }
            }
        }
        // A lone delivery, or each of a batch that one of them failed.
        for (delivery, reply) in deliveries.into_iter().zip(replies) {
            let _ = reply.send(recorder.one(delivery).await);
        }
    }
}

/// A writer's connection, kept from one batch to the next. The pool checks a connection with a round trip when it
/// is taken and another when it is given back; at thousands of batches a second that is a good part of what the
/// service and Postgres spend besides the batches themselves. So a writer keeps its connection, checks it itself
/// only after a quiet spell (a restart of Postgres meanwhile is found before a batch fails on it), gives it back
/// after an error (the pool closes it if it is broken), and every minute, so that the pool's lifetime limits apply.
struct KeptConnection {
    pool: PgPool,
    kept: Option<Kept>,
}

struct Kept {
    connection: PoolConnection<Postgres>,
    taken_at: Instant,
    last_used: Instant,
}

impl KeptConnection {
    /// Longer unused than this, the connection is checked before its next batch.
    const QUIET: Duration = Duration::from_secs(1);
    /// Kept at most this long, then given back to the pool and taken again.
    const KEPT_AT_MOST: Duration = Duration::from_secs(60);

    fn new(pool: PgPool) -> Self {
        Self { pool, kept: None }
    }

    /// Records a batch on the kept connection; after an error the connection goes back to the pool.
    async fn record_batch(
        &mut self,
        deliveries: &[VerifiedDelivery],
        jobs: &JobSpecs,
    ) -> Result<Vec<Outcome>, sqlx::Error> {
        let recorded = match self.get().await {
            Ok(connection) => deliveries::record_batch(connection, deliveries, jobs).await,
            Err(error) => Err(error),
        };
        if recorded.is_err() {
            self.kept = None;
        }
        recorded
    }

    async fn get(&mut self) -> Result<&mut PoolConnection<Postgres>, sqlx::Error> {
        let now = Instant::now();
        let usable = match self.kept.take() {
            Some(kept) if now.duration_since(kept.taken_at) > Self::KEPT_AT_MOST => None,
            // A broken one is dropped (the pool closes it), and the pool gives a working one.
            Some(mut kept) if now.duration_since(kept.last_used) > Self::QUIET => {
                kept.connection.ping().await.ok().map(|()| kept)
            }
            kept => kept,
        };
        let kept = match usable {
            Some(kept) => Kept { last_used: now, ..kept },
            None => Kept {
                connection: self.pool.acquire().await?,
                taken_at: now,
                last_used: now,
            },
        };
        Ok(&mut self.kept.insert(kept).connection)
    }
}

impl Recorder {
    /// Records one delivery in its own transaction; one the database refuses is kept as `unprocessable`.
    async fn one(&self, delivery: VerifiedDelivery) -> Result<Outcome, IngestError> {
        let outcome = self.one_or_refused(delivery).await?;
        self.wakeups.after([outcome]);
        Ok(outcome)
    }

    async fn one_or_refused(&self, delivery: VerifiedDelivery) -> Result<Outcome, IngestError> {
        let (pool, jobs, foreign_kept) = (&self.pool, &self.jobs, self.foreign_kept);
        let error = match deliveries::record(pool, &delivery, jobs, foreign_kept).await {
            Ok(outcome) => return Ok(outcome),
            Err(error) if store::is_transient(&error) => return Err(IngestError::Database(Arc::new(error))),
            Err(error) => error,
        };
        let reason = match &error {
            sqlx::Error::Database(db) => format!("the database refused it: {}", db.message()),
            other => format!("the database refused it: {other}"),
        };
        tracing::warn!(delivery_id = delivery.delivery_id.as_str(), %reason, "keeping a verified delivery as unprocessable");
        let unprocessable = delivery.refused_by_database(reason);
        deliveries::record(pool, &unprocessable, jobs, foreign_kept)
            .await
            .map_err(|e| IngestError::Database(Arc::new(e)))
    }
}
