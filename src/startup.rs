//! Building and running the service: what `serve` does, and what the tests start.
//!
//! `Application::build` binds the listener (port 0 in tests) and assembles the state; `run_until_stopped` serves
//! until the shutdown token is cancelled (SIGTERM or Ctrl-C in production), then lets in-flight requests finish.
//! Background work (preparing the database, loading the verification key) runs beside the server and watches the
//! same token; serving never waits for it, and `/readyz` says when it is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::archive::ArchiveStore;
use crate::background::{self, Attempt, Backoff};
use crate::config::Settings;
use crate::domain::access::ApiTokens;
use crate::domain::artifact::ArtifactState;
use crate::followups::Registry;
use crate::http::console::session::ConsoleAuth;
use crate::http::database_probe::DatabaseProbe;
use crate::http::server::{self, ConnectionLimits};
use crate::http::{self, AppContext, AppState, Capacity};
use crate::ingest::Ingest;
use crate::realtimekit::client::{AppClients, CallBudget, missing_credentials};
use crate::realtimekit::public_key::VerificationKeys;
use crate::realtimekit::registration::{self, DesiredWebhook};
use crate::reconcile;
use crate::store::database::DatabaseReadiness;
use crate::store::{artifacts, database, deliveries, followup_jobs};
use crate::worker::Worker;
use crate::{observability, retention};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    grace: Duration,
    connection_limits: ConnectionLimits,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        observability::prometheus();
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let db = database::lazy_pool(&settings.database)?;
        let database_readiness = DatabaseReadiness::default();
        tasks.spawn(prepare_database_until_done(
            settings.database.clone(),
            db.clone(),
            database_readiness.clone(),
            shutdown.clone(),
        ));

        let http_client = reqwest::Client::builder()
            .user_agent(concat!("rtk-sessions/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let keys = Arc::new(VerificationKeys::from_settings(
            &settings.realtimekit,
            http_client.clone(),
        )?);
        tasks.spawn(keys.clone().load_until_ready(shutdown.clone()));

        // Every replica over this database takes its calls from one budget.
        let budget = CallBudget::shared(db.clone(), &settings.realtimekit.limits);
        let realtimekit = AppClients::from_settings(&settings.realtimekit, http_client.clone())?.with_budget(budget);
        warn_about_apps(&realtimekit);
        if settings.api.tokens.is_empty() {
            tracing::warn!(
                "no API token is configured: /sessions answers 401 to everyone and nobody can sign in to /console; \
                 set api.tokens in config.toml or RTK_SESSIONS__API__TOKENS=<token>[,<token>...] in the environment"
            );
        }
        let desired_webhook = DesiredWebhook::from_settings(&settings);
        let registration = DesiredWebhook::initial_status(&desired_webhook, &realtimekit);
        tasks.spawn(registration::run(
            db.clone(),
            realtimekit.clone(),
            desired_webhook,
            registration.clone(),
            database_readiness.clone(),
            shutdown.clone(),
        ));
        let registry = Registry::from_settings(&settings).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let followup_jobs = registry.job_specs(settings.worker.max_attempts);
        let apps: Vec<String> = settings.realtimekit.apps().iter().map(|a| a.app_id.clone()).collect();
        let kinds: Vec<_> = registry.configured().iter().map(|f| f.kind).collect();
        observability::series_from_start(&apps, &kinds);
        if settings.worker.enabled && !registry.is_empty() {
            let worker = Arc::new(Worker::new(
                db.clone(),
                registry.clone(),
                Arc::new(realtimekit.clone()),
                &settings,
            ));
            let (database_readiness, shutdown, grace) = (
                database_readiness.clone(),
                shutdown.clone(),
                settings.server.shutdown_grace,
            );
            tasks.spawn(async move {
                if background::wait_for(&shutdown, database_readiness.wait_until_prepared()).await {
                    worker.run_until_stopped(shutdown, grace).await;
                }
            });
        } else if !registry.is_empty() {
            tracing::info!("worker.enabled is false: this replica queues follow-ups but leaves running them to others");
        }

        let missing = missing_credentials(&settings.realtimekit);
        match (missing.is_empty(), settings.reconcile.enabled) {
            (true, true) => {
                tasks.spawn(reconcile::run_periodically(
                    db.clone(),
                    realtimekit.clone(),
                    followup_jobs.clone(),
                    settings.reconcile.clone(),
                    database_readiness.clone(),
                    shutdown.clone(),
                ));
            }
            (false, true) => tracing::info!(
                "reconciliation skipped: set {} to record sessions whose delivery never came",
                missing.join(", ")
            ),
            (_, false) => {}
        }

        let archive = (settings.archive.url.as_ref().map(ArchiveStore::open).transpose())
            .map_err(|e| anyhow::anyhow!("invalid configuration: archive.url: {e}"))?;
        match archive.clone() {
            Some(store) => {
                tasks.spawn(check_archive_store(store, shutdown.clone()));
            }
            None => tracing::warn!(
                "archive.url is empty: recordings, transcripts, summaries and chats are not archived, and \
                 RealtimeKit deletes them after 7 days"
            ),
        }
        if settings.archive.allow_private_sources {
            tracing::warn!(
                "archive.allow_private_sources is on: downloads may go to plain http and to addresses inside this \
                 network; turn it off anywhere but a test or a local trial"
            );
        }
        let ingest = Ingest::start(db.clone(), Arc::new(followup_jobs), &settings.ingest);
        let state = AppState::new(AppContext {
            db,
            keys,
            api_tokens: Arc::new(ApiTokens::new(&settings.api.tokens)),
            database_readiness,
            database_probe: DatabaseProbe::new(database::probe_pool(&settings.database)?),
            body_limit_bytes: settings.server.body_limit_bytes.get(),
            body_read_timeout: settings.server.body_read_timeout,
            capacity: Capacity::new(
                settings.server.max_in_flight.get(),
                settings.server.api_max_in_flight.get(),
            ),
            realtimekit,
            registration,
            ingest,
            archive,
            followups: registry.configured(),
            webhook_url: settings.webhook_url(),
            silence: settings.alerts.silence(),
            console: ConsoleAuth::new(
                settings.console.session_ttl,
                settings
                    .server
                    .public_url
                    .as_ref()
                    .is_some_and(|url| url.scheme() == "https"),
            ),
        });
        tasks.spawn(sample_process_gauges(
            state.db.clone(),
            Duration::from_secs(15),
            shutdown.clone(),
        ));
        tasks.spawn(sample_database_gauges(
            state.db.clone(),
            Duration::from_secs(15),
            state.database_readiness.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(last_deliveries_from_database(
            state.db.clone(),
            state.realtimekit.apps().iter().map(|app| app.app_id.clone()).collect(),
            state.database_readiness.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(retention::run_hourly(
            state.db.clone(),
            settings.retention.clone(),
            state.database_readiness.clone(),
            shutdown.clone(),
        ));
        let router = http::router(state, settings.server.request_timeout);
        if let Some(address) = settings.server.metrics_bind {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("binding server.metrics_bind {address}"))?;
            tracing::info!(%address, "serving /metrics without a token on server.metrics_bind");
            let stop = shutdown.clone();
            tasks.spawn(async move {
                let served = axum::serve(listener, http::metrics_router())
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "the metrics listener failed");
                }
            });
        }

        // Beside the connections: the database pools, the metrics listener, logs and the process's own files.
        let reserved = settings.database.max_connections.get() as usize + 64;
        let connection_limits = ConnectionLimits {
            header_read_timeout: settings.server.header_read_timeout,
            idle_timeout: settings.server.idle_timeout,
            max_connections: server::raise_open_files_limit(settings.server.max_connections.get(), reserved),
        };
        let address = settings.server.bind;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding server.bind {address}"))?;
        Ok(Self {
            listener,
            router,
            shutdown,
            tasks,
            grace: settings.server.shutdown_grace,
            connection_limits,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Cancelling this token stops the service gracefully, as SIGTERM does.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
        tracing::info!(%address, "listening");
        let shutdown = self.shutdown.clone();
        let server = server::serve(self.listener, self.router, shutdown.clone(), self.connection_limits);
        tokio::pin!(server);

        tokio::select! {
            () = &mut server => {}
            () = shutdown.cancelled() => {
                tracing::info!(grace_secs = self.grace.as_secs(), "shutting down: no new connections; finishing in-flight requests");
                if tokio::time::timeout(self.grace, &mut server).await.is_err() {
                    tracing::warn!("in-flight requests did not finish within the grace period; stopping anyway");
                }
            }
        }
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("stopped");
        Ok(())
    }
}

/// What the configured apps mean for who is trusted, said once at start.
fn warn_about_apps(clients: &AppClients) {
    let apps = clients.apps();
    if apps.is_empty() {
        tracing::warn!(
            "no RealtimeKit app is configured: deliveries of every app are accepted, and anyone with a RealtimeKit \
             account can send us theirs; pin yours with realtimekit.app_id (or [[realtimekit.apps]] entries, or \
             RTK_SESSIONS__REALTIMEKIT__APP_ID)"
        );
        return;
    }
    let ids: Vec<&str> = apps.iter().map(|app| app.app_id.as_str()).collect();
    tracing::info!(apps = %ids.join(", "), "only these apps' deliveries are acted on; others are kept as foreign");
    for (app, missing) in clients.uncallable() {
        tracing::warn!(
            app = %app.app_id,
            "this app has no {} configured: its deliveries are recorded, but nothing calls the RealtimeKit API for it \
             (registration, reconciliation, reports, ending its sessions)",
            missing.join(" or ")
        );
    }
}

async fn prepare_database_until_done(
    settings: crate::config::DatabaseSettings,
    pool: sqlx::PgPool,
    readiness: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let (settings, pool, readiness) = (&settings, &pool, &readiness);
    background::retry_until_done(&shutdown, backoff, |retry_in| async move {
        match database::prepare(settings, pool).await {
            Ok(()) => {
                readiness.mark_prepared();
                tracing::info!("the database is ready");
                Attempt::Done
            }
            Err(error) => {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    retry_in_secs = retry_in.as_secs_f64(),
                    "the database is not ready yet; deliveries are answered 503 until it is"
                );
                Attempt::Retry
            }
        }
    })
    .await;
}

/// Writes a small object to the archive store at start and every 5 minutes, so that a store that cannot be
/// written (a folder without permission, wrong credentials) is said at once, on `/readyz` and the console, rather
/// than at the first artifact, and its repair is seen without a restart. Serving goes on either way: deliveries
/// are never refused for the archive's sake, and archive jobs retry until the store works.
async fn check_archive_store(store: ArchiveStore, shutdown: CancellationToken) {
    let mut was_writable = None;
    loop {
        let writable = store.check_writable().await;
        match (&writable, was_writable) {
            (Ok(()), None) => tracing::info!(store = store.shown(), "archiving artifacts to the store"),
            (Ok(()), Some(false)) => tracing::info!(store = store.shown(), "the archive store can be written again"),
            (Err(error), None | Some(true)) => tracing::error!(
                store = store.shown(),
                error = %error,
                "the archive store cannot be written: artifacts are not archived until it can (set archive.url, or \
                 its credentials; archive jobs retry meanwhile)"
            ),
            _ => {}
        }
        was_writable = Some(writable.is_ok());
        if !background::sleep(&shutdown, Duration::from_secs(300)).await {
            return;
        }
    }
}

/// Sets `rtk_last_delivery_received_timestamp_seconds` of each configured app (or of all deliveries, while none is
/// configured) from the database, once it answers: a restarted replica then reports the truth, not silence. Looks
/// back a week at most; an app silent longer reports 0.
async fn last_deliveries_from_database(
    pool: sqlx::PgPool,
    apps: Vec<String>,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    let labels: Vec<Option<String>> = if apps.is_empty() {
        vec![None]
    } else {
        apps.into_iter().map(Some).collect()
    };
    for app in labels {
        match deliveries::last_received(&pool, app.as_deref(), Duration::from_secs(7 * 24 * 3600)).await {
            Ok(at) => observability::last_delivery_received(app.as_deref().unwrap_or(""), at.map(Into::into)),
            Err(error) => tracing::warn!(%error, "reading when the last delivery was received failed"),
        }
    }
}

/// Every `interval` until `shutdown`, whether the database answers or not: drains the histograms' recorded samples
/// into their buckets (without that, samples pile up in memory until someone scrapes `/metrics`: the soak benchmark
/// found this as RSS growing by about 40 bytes per request), and samples the pool.
async fn sample_process_gauges(pool: sqlx::PgPool, interval: Duration, shutdown: CancellationToken) {
    let pool = &pool;
    background::every(&shutdown, interval, || async move {
        observability::prometheus().run_upkeep();
        let max = pool.options().get_max_connections();
        observability::pool_connections(u32::try_from(pool.num_idle()).unwrap_or(u32::MAX), pool.size(), max);
    })
    .await;
}

/// Samples the gauges that live in the database every `interval` until `shutdown`, from the moment it is migrated
/// (so that every sample reads the tables as they are meant to be). Says once per process, in the log, when
/// Postgres's shared buffers are too small for the indexes that take rows at random (see [`database::BufferFit`]);
/// the gauges say it all along, for the alert.
async fn sample_database_gauges(
    pool: sqlx::PgPool,
    interval: Duration,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    let (pool, outgrown_said) = (&pool, &AtomicBool::new(false));
    background::every(&shutdown, interval, || async move {
        if let Ok(rows) = followup_jobs::counts_by_state(pool).await {
            // A state no job is in reads 0, not "no data".
            for status in ["due", "waiting", "running", "dead"] {
                if !rows.iter().any(|(s, _)| s == status) {
                    observability::followup_jobs(status.to_owned(), 0);
                }
            }
            for (status, count) in rows {
                observability::followup_jobs(status, count);
            }
        }
        if let Ok(age) = followup_jobs::oldest_due_age_secs(pool).await {
            observability::followup_oldest_due_age(age);
        }
        if let Ok(rows) = artifacts::counts_by_state(pool).await {
            for state in ArtifactState::ALL {
                let count = rows.iter().find(|(s, _)| *s == state).map_or(0, |(_, count)| *count);
                observability::artifacts(state, count);
            }
        }
        if let Ok(seconds) = artifacts::soonest_unarchived_expiry_secs(pool).await {
            observability::artifacts_soonest_expiry(seconds);
        }
        if let Ok(fit) = database::buffer_fit(pool).await {
            observability::postgres_buffer_fit(fit.shared_buffers_bytes, fit.random_index_bytes);
            if fit.outgrown() && !outgrown_said.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    shared_buffers_mib = fit.shared_buffers_bytes >> 20,
                    random_index_mib = fit.random_index_bytes >> 20,
                    "Postgres's shared_buffers are less than twice the indexes that take each new session, job and \
                     delivery at a random place: ingest slows as the history grows; raise shared_buffers (see \
                     docs/OPERATIONS.md, \"Give Postgres the memory\")"
                );
            }
        }
    })
    .await;
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    token.cancel();
}
