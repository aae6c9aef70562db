//! Makes the Cloudflare side match the configuration: one enabled webhook named `registration.name`, pointing at
//! `server.public_url` + `/webhooks/realtimekit`, subscribed to `registration.events`.
//!
//! Webhooks are recognised by URL first, then by name (ours, left at an old URL: it is moved rather than
//! duplicated). Any other webhook is never touched. Replicas serialise on a Postgres advisory lock, so several
//! starting at once create one webhook between them.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use sqlx::{Connection, PgPool};
use tokio_util::sync::CancellationToken;

use super::client::{ApiError, AppClients, RealtimeKitClient, Webhook, WebhookChanges, WebhookSpec};
use crate::background::{self, Attempt, Backoff};
use crate::config::Settings;
use crate::store::database::DatabaseReadiness;

/// The advisory lock key that serialises registration across replicas ("rtk" + 1).
const REGISTRATION_LOCK: i64 = 0x7274_6b01;

/// What `/readyz` reports of the registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegistrationState {
    Disabled { reason: String },
    Pending,
    Registered { webhook_id: String },
    Failed { reason: String },
}

/// Where each app's registration stands, for `/readyz`, the console and the metrics.
#[derive(Clone)]
pub struct RegistrationStatus(Arc<RwLock<Registrations>>);

struct Registrations {
    /// Why nothing is registered at all (no app, no public URL, turned off); `None` while apps are registered.
    off: Option<String>,
    apps: Vec<(String, RegistrationState)>,
    /// The last delivery seen by this replica that came through one app's webhook but named another app.
    last_mismatch: Option<WebhookAppMismatch>,
}

/// A delivery whose unsigned `rtk-webhook-id` is the webhook registered for one app, and whose signed body names
/// another (or none): it means the app ids are not what we take them for.
#[derive(Debug, Clone)]
pub struct WebhookAppMismatch {
    pub webhook_app: String,
    pub delivery_app: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One app's registration, as `/readyz` and the console show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistration {
    pub app_id: String,
    pub state: RegistrationState,
}

impl RegistrationStatus {
    /// Nothing to register, and why.
    pub fn off(reason: String) -> Self {
        record_gauge("", &RegistrationState::Disabled { reason: reason.clone() });
        Self(Arc::new(RwLock::new(Registrations {
            off: Some(reason),
            apps: Vec::new(),
            last_mismatch: None,
        })))
    }

    /// Each app's starting state: pending, or disabled with the reason (its credentials are missing).
    pub fn per_app(apps: Vec<(String, RegistrationState)>) -> Self {
        for (app_id, state) in &apps {
            record_gauge(app_id, state);
        }
        Self(Arc::new(RwLock::new(Registrations {
            off: None,
            apps,
            last_mismatch: None,
        })))
    }

    /// All apps together: failed if one failed, pending while one is, registered when every app that can be is.
    pub fn get(&self) -> RegistrationState {
        let registrations = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = &registrations.off {
            return RegistrationState::Disabled { reason: reason.clone() };
        }
        let several = registrations.apps.len() > 1;
        let of = |app_id: &str, text: &str| {
            if several {
                format!("app {app_id}: {text}")
            } else {
                text.to_owned()
            }
        };
        let states = &registrations.apps;
        if let Some((app_id, RegistrationState::Failed { reason })) = states
            .iter()
            .find(|(_, s)| matches!(s, RegistrationState::Failed { .. }))
        {
            return RegistrationState::Failed {
                reason: of(app_id, reason),
            };
        }
        if states.iter().any(|(_, s)| *s == RegistrationState::Pending) {
            return RegistrationState::Pending;
        }
        let registered: Vec<&str> = (states.iter())
            .filter_map(|(_, s)| match s {
                RegistrationState::Registered { webhook_id } => Some(webhook_id.as_str()),
                _ => None,
            })
            .collect();
        match (registered.is_empty(), states.first()) {
            (false, _) => RegistrationState::Registered {
                webhook_id: registered.join(", "),
            },
            (true, Some((app_id, RegistrationState::Disabled { reason }))) => RegistrationState::Disabled {
                reason: of(app_id, reason),
            },
            (true, _) => RegistrationState::Pending,
        }
    }

    /// Each app's own state (empty when registration is off as a whole).
    pub fn by_app(&self) -> Vec<AppRegistration> {
        let registrations = self.0.read().unwrap_or_else(|p| p.into_inner());
        (registrations.apps.iter())
            .map(|(app_id, state)| AppRegistration {
                app_id: app_id.clone(),
                state: state.clone(),
            })
            .collect()
    }

    /// The app whose registered webhook this is, if it is one of ours.
    pub fn app_of_webhook(&self, webhook_id: &str) -> Option<String> {
        let registrations = self.0.read().unwrap_or_else(|p| p.into_inner());
        registrations.apps.iter().find_map(|(app_id, state)| match state {
            RegistrationState::Registered { webhook_id: id } if id == webhook_id => Some(app_id.clone()),
            _ => None,
        })
    }

    pub fn record_mismatch(&self, webhook_app: String, delivery_app: Option<String>) {
        let mismatch = WebhookAppMismatch {
            webhook_app,
            delivery_app,
            at: chrono::Utc::now(),
        };
        self.0.write().unwrap_or_else(|p| p.into_inner()).last_mismatch = Some(mismatch);
    }

    pub fn last_mismatch(&self) -> Option<WebhookAppMismatch> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).last_mismatch.clone()
    }

    fn set(&self, app_id: &str, state: RegistrationState) {
        record_gauge(app_id, &state);
        let mut registrations = self.0.write().unwrap_or_else(|p| p.into_inner());
        match registrations.apps.iter_mut().find(|(id, _)| id == app_id) {
            Some((_, current)) => *current = state,
            None => registrations.apps.push((app_id.to_owned(), state)),
        }
    }
}

impl RegistrationState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Disabled { .. } => "disabled",
            Self::Pending => "pending",
            Self::Registered { .. } => "registered",
            Self::Failed { .. } => "failed",
        }
    }
}

/// `rtk_webhook_registration_state{app}`: 1 for the current state, 0 for the others (`app=""` when none is).
fn record_gauge(app_id: &str, state: &RegistrationState) {
    crate::observability::registration_state(app_id, state.name());
}

/// The webhook as the configuration wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
}

impl DesiredWebhook {
    /// The webhook every app gets (one per app, each at the same URL), or why registration is off as a whole
    /// (naming what to set). An app without credentials is left out of it: see [`run`].
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        if !settings.registration.enabled {
            return Err("registration.enabled is false".into());
        }
        let mut missing = super::client::missing_credentials(&settings.realtimekit);
        let url = settings.webhook_url();
        if url.is_none() {
            missing.push("server.public_url");
        }
        match url {
            Some(url) if missing.is_empty() => Ok(Self {
                name: settings.registration.name.trim().to_owned(),
                url,
                events: settings.registration.events.clone(),
            }),
            _ => Err(format!(
                "set {} to register the webhook automatically",
                missing.join(", ")
            )),
        }
    }

    /// Each app's starting state: pending for each app that can be called, disabled (with what to set) for the
    /// others.
    pub fn initial_status(desired: &Result<Self, String>, clients: &AppClients) -> RegistrationStatus {
        if let Err(reason) = desired {
            return RegistrationStatus::off(reason.clone());
        }
        let pending = clients
            .callable()
            .map(|(app, _)| (app.app_id.clone(), RegistrationState::Pending));
        let disabled = clients.uncallable().map(|(app, missing)| {
            let reason = format!(
                "set {} for app {} to register its webhook",
                missing.join(" and "),
                app.app_id
            );
            (app.app_id.clone(), RegistrationState::Disabled { reason })
        });
        RegistrationStatus::per_app(pending.chain(disabled).collect())
    }

    fn spec(&self) -> WebhookSpec {
        WebhookSpec {
            name: self.name.clone(),
            url: self.url.clone(),
            events: self.events.clone(),
            enabled: true,
        }
    }

    fn matches(&self, webhook: &Webhook) -> bool {
        let mut wanted = self.events.clone();
        let mut has = webhook.events.clone();
        wanted.sort();
        wanted.dedup();
        has.sort();
        has.dedup();
        webhook.enabled && webhook.name == self.name && same_url(&webhook.url, &self.url) && wanted == has
    }
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Moved,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Moved => "moved",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One pass against the API: create, update, move, or leave alone.
pub async fn reconcile_webhook(
    client: &RealtimeKitClient,
    desired: &DesiredWebhook,
) -> Result<(Webhook, Action), ApiError> {
    let webhooks = client.list_webhooks().await?;
    if let Some(existing) = webhooks.iter().find(|w| same_url(&w.url, &desired.url)) {
        if desired.matches(existing) {
            return Ok((existing.clone(), Action::Unchanged));
        }
        let changes = WebhookChanges {
            name: Some(desired.name.clone()),
            url: None,
            events: Some(desired.events.clone()),
            enabled: Some(true),
        };
        let updated = client.edit_webhook(&existing.id, &changes).await?;
        warn_about_stale_namesakes(&webhooks, desired, &existing.id);
        return Ok((updated, Action::Updated));
    }
    if let Some(ours) = webhooks.iter().find(|w| w.name == desired.name) {
        let changes = WebhookChanges {
            name: None,
            url: Some(desired.url.clone()),
            events: Some(desired.events.clone()),
            enabled: Some(true),
        };
        let moved = client.edit_webhook(&ours.id, &changes).await?;
        warn_about_stale_namesakes(&webhooks, desired, &ours.id);
        return Ok((moved, Action::Moved));
    }
    let created = client.create_webhook(&desired.spec()).await?;
    Ok((created, Action::Created))
}

fn warn_about_stale_namesakes(webhooks: &[Webhook], desired: &DesiredWebhook, kept: &str) {
    for other in webhooks.iter().filter(|w| w.id != kept && w.name == desired.name) {
        tracing::warn!(
            webhook_id = %other.id,
            url = %other.url,
            "another webhook carries this service's name but points elsewhere; left untouched (delete it with `rtk-sessions webhooks delete ID` if it is stale)"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Reconciles under the advisory lock, and records the outcome. The lock is a session lock on a connection of its
/// own, not a transaction: no transaction stays open across Cloudflare's calls and their retries, and if this task
/// is cancelled the connection closes and the lock goes with it.
pub async fn register_once(
    pool: &PgPool,
    app_id: &str,
    client: &RealtimeKitClient,
    desired: &DesiredWebhook,
) -> Result<(Webhook, Action), RegistrationError> {
    let mut lock = pool.acquire().await?.detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(REGISTRATION_LOCK)
        .execute(&mut lock)
        .await?;
    let result = reconcile_webhook(client, desired).await;
    let (webhook_id, outcome, detail) = match &result {
        Ok((webhook, action)) => (Some(webhook.id.as_str()), action.as_str(), None),
        Err(error) => (None, "failed", Some(error.describe())),
    };
    let recorded = sqlx::query(
        "INSERT INTO webhook_registrations (app_id, webhook_id, url, outcome, detail, updated_at)
         VALUES ($5, $1, $2, $3, $4, now())
         ON CONFLICT (app_id) DO UPDATE SET
             webhook_id = coalesce(EXCLUDED.webhook_id, webhook_registrations.webhook_id),
             url = EXCLUDED.url, outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, updated_at = now()",
    )
    .bind(webhook_id)
    .bind(&desired.url)
    .bind(outcome)
    .bind(detail)
    .bind(app_id)
    .execute(&mut lock)
    .await;
    // Closing the connection releases the lock.
    let _ = lock.close().await;
    recorded?;
    Ok(result?)
}

/// The background task `serve` starts: registers each app's webhook once the database is ready, each app
/// retrying on its own with capped backoff.
pub async fn run(
    pool: PgPool,
    clients: AppClients,
    desired: Result<DesiredWebhook, String>,
    status: RegistrationStatus,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    let desired = match desired {
        Ok(desired) => desired,
        Err(reason) => {
            tracing::info!("webhook registration skipped: {reason}");
            return;
        }
    };
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    let (pool, desired, status, shutdown) = (&pool, &desired, &status, &shutdown);
    let each_app = clients.callable().map(|(app, client)| async move {
        register_until_done(pool, &app.app_id, client, desired, status, shutdown).await
    });
    futures_util::future::join_all(each_app).await;
}

async fn register_until_done(
    pool: &PgPool,
    app_id: &str,
    client: &RealtimeKitClient,
    desired: &DesiredWebhook,
    status: &RegistrationStatus,
    shutdown: &CancellationToken,
) {
    const MAX_BACKOFF: Duration = Duration::from_secs(300);
    let backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
    background::retry_until_done(shutdown, backoff, |_| async move {
        match register_once(pool, app_id, client, desired).await {
            Ok((webhook, action)) => {
                tracing::info!(
                    app = app_id,
                    webhook_id = %webhook.id,
                    url = %desired.url,
                    action = action.as_str(),
                    "webhook registered with RealtimeKit"
                );
                status.set(app_id, RegistrationState::Registered { webhook_id: webhook.id });
                Attempt::Done
            }
            Err(RegistrationError::Api(error)) => {
                let reason = error.describe();
                tracing::error!(
                    app = app_id,
                    raw_body = error.raw_body(),
                    "webhook registration failed: {reason}"
                );
                status.set(app_id, RegistrationState::Failed { reason });
                // A refused token will not fix itself quickly: wait the longest.
                if error.is_auth_failure() {
                    Attempt::RetryIn(MAX_BACKOFF)
                } else {
                    Attempt::Retry
                }
            }
            Err(RegistrationError::Database(error)) => {
                tracing::warn!(app = app_id, error = %error, "webhook registration waits for the database");
                Attempt::Retry
            }
        }
    })
    .await;
}
