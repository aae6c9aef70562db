//! The front door: what every request goes through between the router's match and its handler, in one pass of one
//! layer. In order: its request id (the caller's when usable, else one of ours), its span, the screening of its
//! path and body, its capacity class, its deadline, the bearer token (unless the route is public), and on the way
//! out its metric and its `x-request-id`. One `async fn` in place of a stack of seven layers (each cloning the
//! service below it and boxing a future for every request) halves what a request costs between hyper and its
//! handler (see docs/PERFORMANCE.md, "The front door, and plain inserts first").

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use super::auth;
use super::console;
use super::error::{self, ApiError};
use super::state::AppState;
use crate::domain::WEBHOOK_PATH;
use crate::observability;

/// What the front door needs besides the request: the capacity it sheds by, the body deadline, the tokens, and
/// `server.request_timeout_secs`.
#[derive(Clone)]
pub struct FrontDoor {
    pub state: AppState,
    pub request_timeout: Duration,
}

const REQUEST_ID: &str = "x-request-id";

/// The longest `x-request-id` a client may give; longer, or not printable ASCII, and the service makes its own.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// The largest body any route but the receiver takes (a console form, an end-meeting request).
const MAX_OTHER_BODY_BYTES: usize = 64 * 1024;

pub async fn front_door(State(door): State<FrontDoor>, mut request: Request, next: Next) -> Response {
    let request_id = request_id(&mut request);
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route,
        request_id = request_id.to_str().unwrap_or_default(),
        token = tracing::field::Empty,
        delivery_id = tracing::field::Empty,
        session_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = through(&door, request, next).instrument(span).await;
    observability::http_answered(route, &method, response.status(), started.elapsed());
    // A handler's own id (none sets one today) would stand; otherwise the request's goes back.
    response.headers_mut().entry(REQUEST_ID).or_insert(request_id);
    response
}

/// Everything between the request id and the metric: screening, capacity, deadline, token, route.
async fn through(door: &FrontDoor, request: Request, next: Next) -> Response {
    let request = match screen(request, door.state.body_read_timeout).await {
        Ok(request) => request,
        Err(refused) => return refused.into_response(),
    };
    let Ok(_permit) = shed_load(&door.state, request.uri().path()) else {
        return error::overloaded().into_response();
    };
    let is_delivery = request.uri().path() == WEBHOOK_PATH;
    match tokio::time::timeout(door.request_timeout, admitted(&door.state, request, next)).await {
        Ok(response) => response,
        Err(_) => {
            // Past `server.request_timeout_secs` a request is answered 503 with `Retry-After`: to RealtimeKit a
            // timeout is a fault of ours to retry, never a rejection. The work is dropped whole; a delivery is one
            // statement, so either it committed (and the retry is a duplicate) or nothing of it did.
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

/// The route, once the bearer token admits the request (or the route is public).
async fn admitted(state: &AppState, mut request: Request, next: Next) -> Response {
    match auth::admit(state, &mut request) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// The caller's `x-request-id` when it is short and printable (it goes into every log line of the request and back
/// in the answer), else a new UUID; the request carries it on from here.
fn request_id(request: &mut Request) -> HeaderValue {
    let usable = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_CHARS && bytes.iter().all(u8::is_ascii_graphic)
    };
    if let Some(id) = request.headers().get(REQUEST_ID).filter(|v| usable(v)) {
        return id.clone();
    }
    // Written into a buffer on the stack: the header value is then the one allocation (every delivery passes here).
    let mut text = uuid::Uuid::encode_buffer();
    let made = HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text))
        .expect("a UUID is a header value");
    request.headers_mut().insert(REQUEST_ID, made.clone());
    made
}

/// A path that is not UTF-8 once percent-decoded gets the API's JSON error here rather than the router's plain-text
/// one; and every body but a delivery's has arrived whole before the request goes on to take any capacity (see
/// [`read_whole`]).
async fn screen(request: Request, body_deadline: Duration) -> Result<Request, ApiError> {
    use axum::body::HttpBody as _;
    if percent_encoding::percent_decode_str(request.uri().path())
        .decode_utf8()
        .is_err()
    {
        return Err(ApiError::bad_request(
            "invalid_path",
            "the path is not UTF-8 once percent-decoded",
        ));
    }
    if request.uri().path() != WEBHOOK_PATH && !request.body().is_end_stream() {
        return read_whole(request, body_deadline).await;
    }
    Ok(request)
}

/// Load shedding: past its class's capacity, a request is answered 503 with `Retry-After` at once instead of
/// queueing, so a burst far above capacity meets fast refusals that RealtimeKit retries, not unbounded latency or
/// memory. Health checks and metrics are never shed. The receiver takes its permit itself, from its own class, once
/// the body has arrived and its signature verifies, so that strangers hold a connection at most, never capacity
/// that verified deliveries need. Every other body has already arrived here (see [`read_whole`]).
fn shed_load(state: &AppState, path: &str) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ()> {
    if matches!(path, "/healthz" | "/readyz" | "/metrics" | WEBHOOK_PATH) {
        return Ok(None);
    }
    let class = if path == console::SIGN_IN || path.starts_with(console::ASSETS) {
        &state.capacity.public
    } else {
        &state.capacity.api
    };
    class.clone().try_acquire_owned().map(Some).map_err(drop)
}

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
