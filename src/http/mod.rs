//! The HTTP surface: routes, the shared state, and the front door every request goes through (request id, span,
//! screening, capacity, deadline, token: see [`front_door`]).

pub mod artifacts;
pub mod auth;
pub mod console;
pub mod database_probe;
pub mod deliveries;
pub mod error;
pub mod followups;
pub mod front_door;
pub mod health;
pub mod meetings;
pub mod openapi;
pub mod params;
pub mod server;
pub mod sessions;
pub mod state;
pub mod webhook;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

use self::error::ApiError;

pub use self::state::{AppContext, AppState, Capacity};
pub use crate::domain::WEBHOOK_PATH;

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let operator_api = Router::new()
        .route("/sessions", get(sessions::list))
        .route("/sessions/{session_id}", get(sessions::get_one))
        .route("/sessions/{session_id}/report", get(sessions::report))
        .route("/sessions/{session_id}/artifacts/{kind}", get(artifacts::download))
        .route(
            "/sessions/{session_id}/artifacts/recordings/{recording_id}",
            get(artifacts::download_recording),
        )
        .route(
            "/sessions/{session_id}/artifacts/recordings/{recording_id}/files/{name}",
            get(artifacts::download_recording_file),
        )
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/{delivery_id}", get(deliveries::get_one))
        .route("/deliveries/{delivery_id}/replay", post(deliveries::replay))
        .route("/followups", get(followups::list))
        .route("/followups/{id}/retry", post(followups::retry))
        .route("/meetings/{meeting_id}/end", post(meetings::end))
        .route("/metrics", get(health::metrics));

    // The receiver reads its body itself, under its own size limit and deadline.
    let receiver = Router::new()
        .route(WEBHOOK_PATH, post(webhook::receive))
        .layer(DefaultBodyLimit::disable());

    // JSON and HTML go compressed to a client that asks (gzip or br); files already compressed (recordings) and
    // bodies kept byte for byte do not. The receiver's short answers are left as they are.
    let compressed = Router::new()
        .merge(operator_api)
        .merge(console::routes(state.clone()))
        .route("/openapi.json", get(openapi::serve))
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new()
                    .and(NotForContentType::const_new("video/"))
                    .and(NotForContentType::const_new("audio/"))
                    .and(NotForContentType::const_new("application/octet-stream")),
            ),
        );

    let door = front_door::FrontDoor {
        state: state.clone(),
        request_timeout,
    };
    Router::new()
        .merge(compressed)
        .merge(receiver)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Every route goes through the front door, which asks for the token unless the route is one of the few
        // public ones: a new route cannot forget it.
        .layer(from_fn_with_state(door, front_door::front_door))
}

/// `/metrics` alone, without a token: for `server.metrics_bind`, a listener meant for an internal network.
pub fn metrics_router() -> Router {
    Router::new().route("/metrics", get(health::metrics))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed here",
    )
}
