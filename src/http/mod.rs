//! The HTTP surface: routes, the shared state, and the layers every request goes through (request id, tracing
//! span, timeout).

pub mod artifacts;
pub mod auth;
pub mod console;
pub mod deliveries;
pub mod error;
pub mod followups;
pub mod health;
pub mod meetings;
pub mod openapi;
pub mod params;
pub mod server;
pub mod sessions;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use self::auth::ApiTokens;
use self::error::{ApiError, ErrorBody};
use self::health::DatabaseProbe;
use crate::archive::ArchiveStore;
use crate::ingest::Ingest;
use crate::observability;
use crate::realtimekit::client::AppClients;
use crate::realtimekit::public_key::VerificationKeys;
use crate::realtimekit::registration::RegistrationStatus;
use crate::store::database::DatabaseReadiness;

pub use crate::domain::WEBHOOK_PATH;

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
    /// The enabled follow-ups, with their triggers and targets, for the console.
    pub followups: Vec<crate::followups::Configured>,
}

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let body_read_timeout = state.body_read_timeout;
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
        .route("/metrics", get(metrics));

    // The receiver reads its body itself, under its own size limit and deadline.
    let receiver = Router::new()
        .route(WEBHOOK_PATH, post(webhook::receive))
        .layer(DefaultBodyLimit::disable());

    let shed_state = state.clone();
    Router::new()
        .merge(operator_api)
        .merge(console::routes(state.clone()))
        .merge(receiver)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Every route needs the token unless it is one of the few public ones: a new route cannot forget it.
        .layer(from_fn_with_state(state.clone(), auth::require_bearer))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(body_read_timeout, screen_request))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                // A 5xx is logged once, with its cause, where it is made (`ApiError`); the layer's own failure
                // line would repeat it without one.
                .layer(TraceLayer::new_for_http().make_span_with(request_span).on_failure(()))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(observability::record_http))
                .layer(from_fn_with_state(shed_state, shed_load))
                .layer(from_fn_with_state(request_timeout, answer_within)),
        )
}

/// The headers of an answer whose bytes came from outside (a delivery's body, a report of names and titles, an
/// archived file): the browser must not take it for another type, and nothing in it may run or be framed.
pub(crate) const UNTRUSTED_CONTENT: [(axum::http::HeaderName, &str); 2] = [
    (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        axum::http::header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox",
    ),
];

/// `/metrics` alone, without a token: for `server.metrics_bind`, a listener meant for an internal network.
pub fn metrics_router() -> Router {
    Router::new().route("/metrics", get(metrics))
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

/// Load shedding: past its class's capacity, a request is answered 503 with `Retry-After` at once instead of
/// queueing, so a burst far above capacity meets fast refusals that RealtimeKit retries, not unbounded latency or
/// memory. Health checks and metrics are never shed. The receiver takes its permit itself, from its own class, once
/// the body has arrived and its signature verifies, so that strangers hold a connection at most, never capacity
/// that verified deliveries need. Every other body has already arrived here (see [`read_whole`]).
async fn shed_load(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics" | WEBHOOK_PATH) {
        return next.run(request).await;
    }
    let class = if path == console::SIGN_IN || path.starts_with(console::ASSETS) {
        &state.capacity.public
    } else {
        &state.capacity.api
    };
    let Ok(_permit) = class.clone().try_acquire_owned() else {
        return overloaded().into_response();
    };
    next.run(request).await
}

/// The longest `x-request-id` a client may give; longer, or not printable ASCII, and the service makes its own.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// Before anything else reads a request: a client's `x-request-id` is kept only when it is short and printable (it
/// goes into every log line of the request and back in the answer); a path that is not UTF-8 once percent-decoded
/// gets the API's JSON error here rather than the router's plain-text one; and every body but a delivery's has
/// arrived whole before the request goes on to take any capacity (see [`read_whole`]).
async fn screen_request(State(deadline): State<Duration>, mut request: Request, next: Next) -> Response {
    use axum::body::HttpBody as _;
    let usable_id = |value: &axum::http::HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_CHARS && bytes.iter().all(u8::is_ascii_graphic)
    };
    if request.headers().get("x-request-id").is_some_and(|v| !usable_id(v)) {
        request.headers_mut().remove("x-request-id");
    }
    if percent_encoding::percent_decode_str(request.uri().path())
        .decode_utf8()
        .is_err()
    {
        return ApiError::bad_request("invalid_path", "the path is not UTF-8 once percent-decoded").into_response();
    }
    if request.uri().path() != WEBHOOK_PATH && !request.body().is_end_stream() {
        request = match read_whole(request, deadline).await {
            Ok(request) => request,
            Err(refused) => return refused.into_response(),
        };
    }
    next.run(request).await
}

/// The largest body any route but the receiver takes (a console form, an end-meeting request).
const MAX_OTHER_BODY_BYTES: usize = 64 * 1024;

/// Every body but a delivery's (which the receiver reads itself, under its own limit) is read whole, within
/// `server.body_read_timeout_secs` and 64 KiB, before the request takes any capacity: a client that declares a body
/// and never sends it holds its connection for that long, and nothing else. Over HTTP/2 this bounds each stream the
/// same way.
async fn read_whole(request: Request, deadline: Duration) -> Result<Request, ApiError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(deadline, Limited::new(body, MAX_OTHER_BODY_BYTES).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than the limit of {MAX_OTHER_BODY_BYTES} bytes"),
            )
            .closing_connection());
        }
        Ok(Err(error)) => {
            return Err(ApiError::bad_request(
                "unreadable_body",
                format!("the body could not be read: {error}"),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the body did not arrive within {} seconds", deadline.as_secs_f64()),
            )
            .closing_connection());
        }
    };
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

pub(crate) fn overloaded() -> ApiError {
    ApiError::unavailable(
        "overloaded",
        "the service is at capacity; try again shortly",
        Duration::from_secs(1),
    )
}

/// The span every log line of a request carries; the receiver fills in the delivery and session ids.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        token = tracing::field::Empty,
        delivery_id = tracing::field::Empty,
        session_id = tracing::field::Empty,
    )
}

/// Past `server.request_timeout_secs` a request is answered 503 with `Retry-After`: to RealtimeKit a timeout is a
/// fault of ours to retry, never a rejection. The work is dropped whole; a delivery is one statement, so either it
/// committed (and the retry is a duplicate) or nothing of it did.
async fn answer_within(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let is_delivery = request.uri().path() == WEBHOOK_PATH;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            if is_delivery {
                observability::rejected("timeout");
            }
            ApiError::unavailable(
                "timeout",
                "the request took too long; try again later",
                Duration::from_secs(5),
            )
            .into_response()
        }
    }
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
