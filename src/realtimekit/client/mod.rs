//! A typed client for the RealtimeKit REST API under `{api_base}/accounts/{account_id}/realtime/kit/{app_id}`, one
//! file per resource (webhooks, meetings, sessions, artifacts), with the transport and the errors beside them.
//!
//! It decodes RealtimeKit's `{success, data}` envelope and each error shape Cloudflare may answer with, retries the
//! calls that are safe to repeat (5xx, network errors, 429 after its `retry-after`), and never logs the token.

// The error keeps the raw body and the call for the log; it is rare and never on a hot path, so its size is fine.
#![allow(clippy::result_large_err)]

mod artifacts;
mod error;
mod meetings;
mod sessions;
mod transport;
mod webhooks;

use reqwest::Url;

pub use self::error::ApiError;
pub use self::meetings::MeetingStatus;
pub use self::sessions::{Participant, SessionDetails, SessionQuery};
pub use self::transport::{RetryPolicy, segment as path_segment};
pub use self::webhooks::{Webhook, WebhookChanges, WebhookSpec};
use crate::config::RealtimeKitSettings;
use crate::domain::Secret;

/// The token permission the calls need, named in every authentication failure.
pub const TOKEN_PERMISSION: &str = "Realtime Admin or Realtime";

#[derive(Clone)]
pub struct RealtimeKitClient {
    http: reqwest::Client,
    app_base: Url,
    token: Secret,
    retry: RetryPolicy,
}

impl std::fmt::Debug for RealtimeKitClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeKitClient")
            .field("app_base", &self.app_base.as_str())
            .finish()
    }
}

/// What is missing for the client to be usable, as configuration keys.
pub fn missing_credentials(settings: &RealtimeKitSettings) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if settings.account_id.trim().is_empty() {
        missing.push("realtimekit.account_id");
    }
    if settings.app_id.trim().is_empty() {
        missing.push("realtimekit.app_id");
    }
    if settings.api_token.is_empty() {
        missing.push("realtimekit.api_token (or CLOUDFLARE_API_TOKEN)");
    }
    missing
}

impl RealtimeKitClient {
    /// `None` when the account id, app id or token is missing.
    pub fn from_settings(settings: &RealtimeKitSettings, http: reqwest::Client) -> anyhow::Result<Option<Self>> {
        if !missing_credentials(settings).is_empty() {
            return Ok(None);
        }
        Self::new(
            &settings.api_base,
            settings.account_id.trim(),
            settings.app_id.trim(),
            settings.api_token.clone(),
            http,
            RetryPolicy::default(),
        )
        .map(Some)
    }

    pub fn new(
        api_base: &str,
        account_id: &str,
        app_id: &str,
        token: Secret,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let base = format!(
            "{}/accounts/{account_id}/realtime/kit/{app_id}/",
            api_base.trim_end_matches('/')
        );
        let app_base = Url::parse(&base).map_err(|e| anyhow::anyhow!("realtimekit.api_base: {e}"))?;
        Ok(Self {
            http,
            app_base,
            token,
            retry,
        })
    }
}
