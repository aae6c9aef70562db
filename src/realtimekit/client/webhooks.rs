//! `/webhooks`: list, create, get, edit and delete the app's webhooks.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::transport::{Repeat, data, segment};
use super::{ApiError, RealtimeKitClient};

impl RealtimeKitClient {
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, ApiError> {
        self.call(Method::GET, "webhooks", &[], None::<&()>, Repeat::Safe)
            .await
            .and_then(data)
    }

    pub async fn create_webhook(&self, webhook: &WebhookSpec) -> Result<Webhook, ApiError> {
        self.call(
            Method::POST,
            "webhooks",
            &[],
            Some(webhook),
            Repeat::OnlyWhenRateLimited,
        )
        .await
        .and_then(data)
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Webhook, ApiError> {
        self.call(
            Method::GET,
            &format!("webhooks/{}", segment(id)),
            &[],
            None::<&()>,
            Repeat::Safe,
        )
        .await
        .and_then(data)
    }

    pub async fn edit_webhook(&self, id: &str, changes: &WebhookChanges) -> Result<Webhook, ApiError> {
        self.call(
            Method::PATCH,
            &format!("webhooks/{}", segment(id)),
            &[],
            Some(changes),
            Repeat::Safe,
        )
        .await
        .and_then(data)
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), ApiError> {
        self.call(
            Method::DELETE,
            &format!("webhooks/{}", segment(id)),
            &[],
            None::<&()>,
            Repeat::Safe,
        )
        .await
        .map(drop)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// The body of create and replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookSpec {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
}

/// The body of edit: only the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}
