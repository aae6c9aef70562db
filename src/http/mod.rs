//! The HTTP surface: routes, the shared state, and the layers every request goes through (request id, tracing
//! span, timeout).

pub mod artifacts;
pub mod auth;
pub mod console;
pub mod database_probe;
pub mod deliveries;
pub mod error;
pub mod followups;
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
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use self::error::ApiError;
use crate::observability;

pub use self::state::{AppContext, AppState, Capacity};
pub use crate::domain::WEBHOOK_PATH;

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

    let shed_state = state.clone();
    Router::new()
        .merge(compressed)
        .merge(receiver)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
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

/// `/metrics` alone, without a token: for `server.metrics_bind`, a listener meant for an internal network.
pub fn metrics_router() -> Router {
    Router::new().route("/metrics", get(health::metrics))
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
        return error::overloaded().into_response();
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
