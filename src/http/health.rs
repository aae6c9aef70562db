//! `GET /healthz`: the process answers. `GET /readyz`: it can do its work, with a JSON report of each check.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use crate::realtimekit::public_key::KeyStatus;
use crate::realtimekit::registration::RegistrationState;

/// Whether the database has been created and migrated by this process; background work waits for it.
#[derive(Clone)]
pub struct DatabaseReadiness(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for DatabaseReadiness {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl DatabaseReadiness {
    pub fn mark_prepared(&self) {
        self.0.send_replace(true);
    }

    pub fn is_prepared(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait_until_prepared(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|prepared| *prepared).await;
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Checks {
    database: DatabaseCheck,
    verification_key: KeyStatus,
    /// Informational: the webhook registration never makes the service unready.
    registration: RegistrationState,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DatabaseCheck {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
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
        (status = 200, description = "Ready: the database is migrated and reachable and a verification key is loaded", body = Readiness),
        (status = 503, description = "Not ready; `checks` says which check fails", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = database_check(&state).await;
    let verification_key = state.keys.status();
    let ready = database.ok && verification_key.ok;
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
                registration: state.registration.get(),
            },
        }),
    )
}

async fn database_check(state: &AppState) -> DatabaseCheck {
    if !state.database_readiness.is_prepared() {
        return DatabaseCheck {
            ok: false,
            detail: Some("the database is not created and migrated yet; see the log".into()),
        };
    }
    let ping = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(&state.db)).await;
    match ping {
        Ok(Ok(_)) => DatabaseCheck { ok: true, detail: None },
        Ok(Err(error)) => DatabaseCheck {
            ok: false,
            detail: Some(format!("unreachable: {}", describe(&error))),
        },
        Err(_) => DatabaseCheck {
            ok: false,
            detail: Some("unreachable: no answer within 2 seconds".into()),
        },
    }
}

/// A short description that cannot carry the connection URL (and so no password).
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => "no connection available in time".to_owned(),
        sqlx::Error::Io(io) => io.kind().to_string(),
        other => other.to_string(),
    }
}
