//! A typed client for the RealtimeKit REST API under `{api_base}/accounts/{account_id}/realtime/kit/{app_id}`, one
//! file per resource (webhooks, meetings, sessions, artifacts), with the transport and the errors beside them.
//!
//! It decodes RealtimeKit's `{success, data}` envelope and each error shape Cloudflare may answer with, retries the
//! calls that are safe to repeat (5xx, network errors, 429 after its `retry-after`), takes every call from one
//! budget under Cloudflare's limits (`budget`), and never logs the token.

// The error keeps the raw body and the call for the log; it is rare and never on a hot path, so its size is fine.
#![allow(clippy::result_large_err)]

mod artifacts;
mod budget;
mod error;
mod meetings;
mod sessions;
mod transport;
mod webhooks;

use reqwest::Url;

use self::budget::Buckets;
pub use self::budget::CallBudget;
pub use self::error::ApiError;
pub use self::meetings::MeetingStatus;
pub use self::sessions::{Participant, SessionDetails, SessionQuery};
pub use self::transport::{RetryPolicy, segment as path_segment};
pub use self::webhooks::{Webhook, WebhookChanges, WebhookSpec};
use crate::config::RealtimeKitSettings;
use crate::domain::{App, Apps, Secret};

/// The token permission the calls need, named in every authentication failure.
pub const TOKEN_PERMISSION: &str = "Realtime Admin or Realtime";

#[derive(Clone)]
pub struct RealtimeKitClient {
    http: reqwest::Client,
    app_base: Url,
    token: Secret,
    retry: RetryPolicy,
    budget: CallBudget,
    buckets: Buckets,
}

impl std::fmt::Debug for RealtimeKitClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeKitClient")
            .field("app_base", &self.app_base.as_str())
            .finish()
    }
}

/// What is missing for any call to be possible, as configuration keys: nothing once one app has its account id
/// and token.
pub fn missing_credentials(settings: &RealtimeKitSettings) -> Vec<&'static str> {
    let apps = settings.apps();
    if apps.iter().any(|app| app.missing_credentials().is_empty()) {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if settings.account_id.trim().is_empty() && apps.iter().all(|app| app.account_id.is_empty()) {
        missing.push("realtimekit.account_id");
    }
    if apps.is_empty() {
        missing.push("realtimekit.app_id");
    }
    if settings.api_token.is_empty() && apps.iter().all(|app| app.api_token.is_empty()) {
        missing.push("realtimekit.api_token (or CLOUDFLARE_API_TOKEN)");
    }
    missing
}

/// The RealtimeKit API of each configured app, each called with that app's own account and token.
#[derive(Clone, Debug, Default)]
pub struct AppClients {
    apps: Apps,
    /// In the order of `apps`; `None` for an app without its account id or token.
    clients: Vec<Option<RealtimeKitClient>>,
}

/// Why no client can call Cloudflare for an app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoClient {
    #[error(
        "set realtimekit.account_id, app_id and api_token (or [[realtimekit.apps]] entries) to call the RealtimeKit API"
    )]
    NoApp,
    #[error("app {0} is not configured (realtimekit.app_id or [[realtimekit.apps]])")]
    NotConfigured(String),
    #[error("app {app} has no {missing} configured, so the RealtimeKit API cannot be called for it")]
    NoCredentials { app: String, missing: String },
    #[error("{0} apps are configured and the record names none: say which app")]
    WhichApp(usize),
}

impl AppClients {
    /// The clients of the configured apps, with a budget of this process; `serve` shares it through the database
    /// (see [`Self::with_budget`]).
    pub fn from_settings(settings: &RealtimeKitSettings, http: reqwest::Client) -> anyhow::Result<Self> {
        let budget = CallBudget::local(&settings.limits);
        Self::new(
            settings.apps(),
            &settings.api_base,
            http,
            RetryPolicy::default(),
            budget,
        )
    }

    /// The same clients, every call of which takes from `budget`.
    pub fn with_budget(mut self, budget: CallBudget) -> Self {
        for client in self.clients.iter_mut().flatten() {
            client.budget = budget.clone();
        }
        self
    }

    pub fn new(
        apps: Apps,
        api_base: &str,
        http: reqwest::Client,
        retry: RetryPolicy,
        budget: CallBudget,
    ) -> anyhow::Result<Self> {
        let clients = apps
            .iter()
            .map(|app| {
                if !app.missing_credentials().is_empty() {
                    return Ok(None);
                }
                let client = RealtimeKitClient::new(
                    api_base,
                    &app.account_id,
                    &app.app_id,
                    app.api_token.clone(),
                    http.clone(),
                    retry.clone(),
                    budget.clone(),
                )?;
                Ok(Some(client))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { apps, clients })
    }

    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// The client of the app a record belongs to; a record without an app id (written before apps were
    /// configured) belongs to the only app, when there is one.
    pub fn for_app(&self, app_id: Option<&str>) -> Result<(&App, &RealtimeKitClient), NoClient> {
        let index = match app_id {
            Some(app_id) => (self.apps.iter())
                .position(|app| app.app_id == app_id)
                .ok_or_else(|| NoClient::NotConfigured(app_id.to_owned()))?,
            None if self.apps.is_empty() => return Err(NoClient::NoApp),
            None if self.apps.len() == 1 => 0,
            None => return Err(NoClient::WhichApp(self.apps.len())),
        };
        let app = self.apps.iter().nth(index).expect("an index of apps");
        match &self.clients[index] {
            Some(client) => Ok((app, client)),
            None => Err(NoClient::NoCredentials {
                app: app.app_id.clone(),
                missing: app.missing_credentials().join(" and "),
            }),
        }
    }

    /// Each app whose API can be called, with its client.
    pub fn callable(&self) -> impl Iterator<Item = (&App, &RealtimeKitClient)> {
        (self.apps.iter().zip(&self.clients)).filter_map(|(app, client)| Some((app, client.as_ref()?)))
    }

    /// Each app without its account id or token, with what is missing.
    pub fn uncallable(&self) -> impl Iterator<Item = (&App, Vec<&'static str>)> {
        (self.apps.iter().zip(&self.clients))
            .filter(|(_, client)| client.is_none())
            .map(|(app, _)| (app, app.missing_credentials()))
    }
}

impl RealtimeKitClient {
    pub fn new(
        api_base: &str,
        account_id: &str,
        app_id: &str,
        token: Secret,
        http: reqwest::Client,
        retry: RetryPolicy,
        budget: CallBudget,
    ) -> anyhow::Result<Self> {
        let base = format!(
            "{}/accounts/{}/realtime/kit/{}/",
            api_base.trim_end_matches('/'),
            path_segment(account_id),
            path_segment(app_id)
        );
        let app_base = Url::parse(&base).map_err(|e| anyhow::anyhow!("realtimekit.api_base: {e}"))?;
        Ok(Self {
            http,
            app_base,
            buckets: Buckets::of(app_id, &token),
            token,
            retry,
            budget,
        })
    }
}
