//! `GET /healthz`: the process answers. `GET /readyz`: it can do its work, with a report of each check.
//!
//! `/readyz` is public, so it is cheap and says little: the database check is cached for a second and shared by
//! concurrent callers, runs on a one-connection pool of its own (never one the writers need), and the public body
//! carries only `ok`/`failing` and a stable reason code per check. Error texts, Cloudflare's messages and URLs (which
//! name the account and app) go to the log, and to callers presenting an API token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;

use super::auth::bearer_token;
use super::database_probe::NOT_MIGRATED;
use super::error::ErrorBody;
use super::state::AppState;
use crate::archive::{ArchiveStore, Writability};
use crate::observability;
use crate::realtimekit::registration::{RegistrationState, RegistrationStatus};

/// `ready` or `not_ready`, with each check.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Checks {
    database: Check,
    verification_key: Check,
    /// Informational: the webhook registration never makes the service unready.
    registration: RegistrationCheck,
    /// Informational: an archive that cannot be written never makes the service unready (deliveries are still
    /// recorded, and archive jobs retry), but the files wait, and RealtimeKit deletes them after 7 days.
    archive: ArchiveCheck,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ArchiveCheck {
    /// `ok` (the last write to the store worked), `unwritable`, `unchecked` (nothing written yet) or `off`
    /// (`archive.url` is empty).
    state: &'static str,
    /// The store's error, and since when writes fail; only for callers presenting an API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl ArchiveCheck {
    fn new(archive: Option<&ArchiveStore>, authenticated: bool) -> Self {
        let (state, detail) = match archive.map(ArchiveStore::writability) {
            None => ("off", None),
            Some(Writability::Unchecked) => ("unchecked", None),
            Some(Writability::Writable) => ("ok", None),
            Some(Writability::Unwritable { error, since }) => (
                "unwritable",
                Some(format!(
                    "{} cannot be written since {}: {error}",
                    archive.map_or("", ArchiveStore::shown),
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
            ),
        };
        Self {
            state,
            detail: detail.filter(|_| authenticated),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Check {
    /// `ok` or `failing`.
    status: &'static str,
    /// A stable code saying why the check fails: `not_migrated`, `unreachable`, `timeout` (database); `not_loaded`
    /// (verification key).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// Where the verification key comes from: `pinned` or `fetched`.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    /// What failed, in words; only for callers presenting an API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl Check {
    fn new(failure: Option<(&'static str, String)>, authenticated: bool) -> Self {
        match failure {
            None => Self {
                status: "ok",
                reason: None,
                source: None,
                detail: None,
            },
            Some((reason, detail)) => Self {
                status: "failing",
                reason: Some(reason),
                source: None,
                detail: authenticated.then_some(detail),
            },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationCheck {
    /// `disabled`, `pending`, `registered` or `failed`.
    state: &'static str,
    /// Only for callers presenting an API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    /// Why registration is disabled or failed; only for callers presenting an API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Each configured app's own registration (one webhook per app); only for callers presenting an API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    apps: Option<Vec<AppRegistrationCheck>>,
}

/// One app's registration.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AppRegistrationCheck {
    app_id: String,
    /// `disabled`, `pending`, `registered` or `failed`.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    /// Why its registration is disabled or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl RegistrationCheck {
    fn new(status: &RegistrationStatus, authenticated: bool) -> Self {
        let apps = authenticated.then(|| {
            (status.by_app().into_iter())
                .map(|app| {
                    let (state, webhook_id, detail) = Self::parts(app.state);
                    AppRegistrationCheck {
                        app_id: app.app_id,
                        state,
                        webhook_id,
                        detail,
                    }
                })
                .collect()
        });
        let (state, webhook_id, detail) = Self::parts(status.get());
        Self {
            state,
            webhook_id: webhook_id.filter(|_| authenticated),
            detail: detail.filter(|_| authenticated),
            apps,
        }
    }

    /// The state's name, its webhook id, and why it is disabled or failed.
    fn parts(state: RegistrationState) -> (&'static str, Option<String>, Option<String>) {
        let name = state.name();
        match state {
            RegistrationState::Disabled { reason } | RegistrationState::Failed { reason } => (name, None, Some(reason)),
            RegistrationState::Pending => (name, None, None),
            RegistrationState::Registered { webhook_id } => (name, Some(webhook_id), None),
        }
    }
}

/// The liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready: the database is migrated and reachable and a verification key is loaded. \
            With an API token, failing checks also say what failed in words (`detail`).", body = Readiness),
        (status = 503, description = "Not ready; `checks` says which check fails and why (`reason`)", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>, headers: HeaderMap) -> (StatusCode, Json<Readiness>) {
    let authenticated = bearer_token(&headers).is_some_and(|token| state.api_tokens.identify(token).is_some());
    // A database that does not answer is `unreachable` (or `timeout`) whether or not it was migrated yet.
    let database = match state.database_probe.check().await.failure {
        Some(failure) => Some(failure),
        None if !state.database_readiness.is_prepared() => Some(("not_migrated", NOT_MIGRATED.to_owned())),
        None => None,
    };
    let database = Check::new(database, authenticated);
    let key = state.keys.status();
    let mut verification_key = Check::new(
        (!key.loaded).then(|| {
            let detail = match key.last_error {
                Some(error) => format!("not loaded yet; the last fetch failed: {error}"),
                None => "not loaded yet".to_owned(),
            };
            ("not_loaded", detail)
        }),
        authenticated,
    );
    verification_key.source = Some(key.source);
    let ready = database.status == "ok" && verification_key.status == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            checks: Checks {
                database,
                verification_key,
                registration: RegistrationCheck::new(&state.registration, authenticated),
                archive: ArchiveCheck::new(state.archive.as_ref(), authenticated),
            },
        }),
    )
}

/// The Prometheus exposition: every metric of docs/OPERATIONS.md.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses(
        (status = 200, description = "The metrics in Prometheus's text format (also served without a token on \
            `server.metrics_bind`, when set)", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
    ))]
pub(crate) async fn metrics() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        observability::prometheus().render(),
    )
}
