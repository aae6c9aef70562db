//! What every handler shares: the service's context, and the capacity each class of request may take.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Semaphore;

use super::console;
use super::database_probe::DatabaseProbe;
use crate::archive::ArchiveStore;
use crate::domain::access::ApiTokens;
use crate::ingest::Ingest;
use crate::realtimekit::client::AppClients;
use crate::realtimekit::public_key::VerificationKeys;
use crate::realtimekit::registration::RegistrationStatus;
use crate::store::database::DatabaseReadiness;

/// What every handler shares. Cloned for each request (axum's `State`), so it is one `Arc`: one reference count
/// to touch instead of one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl AppState {
    pub fn new(context: AppContext) -> Self {
        Self(Arc::new(context))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

pub struct AppContext {
    pub db: PgPool,
    pub keys: Arc<VerificationKeys>,
    pub api_tokens: Arc<ApiTokens>,
    pub database_readiness: DatabaseReadiness,
    pub database_probe: DatabaseProbe,
    pub body_limit_bytes: usize,
    /// How long a webhook body may take to arrive once its head has.
    pub body_read_timeout: Duration,
    /// Capacity, in classes that cannot take each other's (see [`shed_load`]).
    pub capacity: Capacity,
    /// The configured apps (whose deliveries are ours) and the RealtimeKit API of each.
    pub realtimekit: AppClients,
    pub registration: RegistrationStatus,
    /// Where verified deliveries are recorded (one transaction each, or group commit).
    pub ingest: Ingest,
    /// Where archived artifacts are read from; `None` without `archive.url`.
    pub archive: Option<ArchiveStore>,
    /// The console's sign-in sessions.
    pub console: console::session::ConsoleAuth,
    /// Where RealtimeKit should deliver (`server.public_url` + the webhook path), when the public URL is set.
    pub webhook_url: Option<String>,
    /// No delivery for this long (after some came) is worth a warning on the console (`alerts.silence_hours`).
    pub silence: Option<Duration>,
    /// The enabled follow-ups, with their triggers and targets, for the console.
    pub followups: Vec<crate::followups::Configured>,
}

/// Requests handled at once, in three classes, so that nobody can take the capacity another class needs:
/// verified deliveries have `server.max_in_flight` of their own; the API and the signed-in console share
/// `server.api_max_in_flight`; the console's public routes (sign-in, its assets) have [`PUBLIC_IN_FLIGHT`].
#[derive(Clone)]
pub struct Capacity {
    pub deliveries: Arc<Semaphore>,
    pub api: Arc<Semaphore>,
    pub public: Arc<Semaphore>,
}

/// Requests on the console's unauthenticated routes handled at once.
pub const PUBLIC_IN_FLIGHT: usize = 64;

impl Capacity {
    pub fn new(deliveries: usize, api: usize) -> Self {
        Self {
            deliveries: Arc::new(Semaphore::new(deliveries)),
            api: Arc::new(Semaphore::new(api)),
            public: Arc::new(Semaphore::new(PUBLIC_IN_FLIGHT)),
        }
    }
}
