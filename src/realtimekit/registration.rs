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

use super::client::{ApiError, RealtimeKitClient, Webhook, WebhookChanges, WebhookSpec};
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

#[derive(Clone)]
pub struct RegistrationStatus(Arc<RwLock<RegistrationState>>);

impl RegistrationStatus {
    pub fn new(state: RegistrationState) -> Self {
        record_gauge(&state);
        Self(Arc::new(RwLock::new(state)))
    }

    pub fn get(&self) -> RegistrationState {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, state: RegistrationState) {
        record_gauge(&state);
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = state;
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

/// `rtk_webhook_registration_state`: 1 for the current state, 0 for the others.
fn record_gauge(state: &RegistrationState) {
    crate::observability::registration_state(state.name());
}

/// The webhook as the configuration wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
}

impl DesiredWebhook {
    /// The desired webhook, or why registration is off (naming what to set).
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
        "INSERT INTO webhook_registration (id, webhook_id, url, outcome, detail, updated_at)
         VALUES (1, $1, $2, $3, $4, now())
         ON CONFLICT (id) DO UPDATE SET
             webhook_id = coalesce(EXCLUDED.webhook_id, webhook_registration.webhook_id),
             url = EXCLUDED.url, outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, updated_at = now()",
    )
    .bind(webhook_id)
    .bind(&desired.url)
    .bind(outcome)
    .bind(detail)
    .execute(&mut lock)
    .await;
    // Closing the connection releases the lock.
    let _ = lock.close().await;
    recorded?;
    Ok(result?)
}

/// The background task `serve` starts: registers once the database is ready, retrying with capped backoff.
pub async fn run(
    pool: PgPool,
    client: Option<RealtimeKitClient>,
    desired: Result<DesiredWebhook, String>,
    status: RegistrationStatus,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    let (client, desired) = match (client, desired) {
        (Some(client), Ok(desired)) => (client, desired),
        (_, Err(reason)) => {
            tracing::info!("webhook registration skipped: {reason}");
            status.set(RegistrationState::Disabled { reason });
            return;
        }
        (None, Ok(_)) => return,
    };
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    const MAX_BACKOFF: Duration = Duration::from_secs(300);
    let backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
    let (pool, client, desired, status) = (&pool, &client, &desired, &status);
    background::retry_until_done(&shutdown, backoff, |_| async move {
        match register_once(pool, client, desired).await {
            Ok((webhook, action)) => {
                tracing::info!(
                    webhook_id = %webhook.id,
                    url = %desired.url,
                    action = action.as_str(),
                    "webhook registered with RealtimeKit"
                );
                status.set(RegistrationState::Registered { webhook_id: webhook.id });
                Attempt::Done
            }
            Err(RegistrationError::Api(error)) => {
                let reason = error.describe();
                tracing::error!(raw_body = error.raw_body(), "webhook registration failed: {reason}");
                status.set(RegistrationState::Failed { reason });
                // A refused token will not fix itself quickly: wait the longest.
                if error.is_auth_failure() {
                    Attempt::RetryIn(MAX_BACKOFF)
                } else {
                    Attempt::Retry
                }
            }
            Err(RegistrationError::Database(error)) => {
                tracing::warn!(error = %error, "webhook registration waits for the database");
                Attempt::Retry
            }
        }
    })
    .await;
}
