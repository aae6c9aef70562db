//! The one error type of the HTTP API. Every error answers `{"error": {"code", "message"}}` with the right status;
//! a 5xx says nothing of its internals to the client, and its whole cause chain is logged once.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ingest::IngestError;
use crate::realtimekit::end_meeting::EndMeetingError;
use crate::store::followup_jobs::RetryError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
    bearer_challenge: bool,
    close_connection: bool,
    cause: Option<anyhow::Error>,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// A stable, machine-readable code such as `invalid_signature` or `database_unavailable`.
    code: &'a str,
    /// What went wrong, for people.
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            bearer_challenge: false,
            close_connection: false,
            cause: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A query string that does not parse, with the parameters the endpoint takes.
    pub fn invalid_query(rejection: &axum::extract::rejection::QueryRejection, parameters: &str) -> Self {
        Self::bad_request(
            "invalid_query",
            format!("{}; the parameters are {parameters}", rejection.body_text()),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure of ours that should pass: the client is told to come back later.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_after(retry_after)
    }

    /// A missing or unknown bearer token.
    pub fn unauthorized_bearer(message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        error.bearer_challenge = true;
        error
    }

    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Asks an HTTP/1 client to close the connection after this answer (its request was not read to the end).
    pub fn closing_connection(mut self) -> Self {
        self.close_connection = true;
        self
    }

    pub fn caused_by(mut self, cause: anyhow::Error) -> Self {
        self.cause = Some(cause);
        self
    }
}

/// The command line shows the same words as the API: the message, and the cause when there is one.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_ref()
            .map(|cause| cause.as_ref() as &(dyn std::error::Error + 'static))
    }
}

// How each error of the layers below answers: one `From` per error type, so a handler only writes `?`.

/// A database failure: 503 when it should pass (Postgres down or overloaded), 500 otherwise.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let answer = if crate::store::is_transient(&error) {
            Self::unavailable(
                "database_unavailable",
                "the database is unavailable; try again later",
                Duration::from_secs(5),
            )
        } else {
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        };
        answer.caused_by(anyhow::Error::new(error))
    }
}

/// Whatever failed, nothing was committed, and RealtimeKit's retry will bring the delivery again.
impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        Self::unavailable(
            "storage_unavailable",
            "the delivery could not be stored; try again later",
            Duration::from_secs(5),
        )
        .caused_by(anyhow::Error::new(error))
    }
}

impl From<RetryError> for ApiError {
    fn from(error: RetryError) -> Self {
        match error {
            RetryError::NotFound(_) => Self::not_found(error.to_string()),
            RetryError::NotRetryable { .. } => Self::new(StatusCode::CONFLICT, "not_retryable", error.to_string()),
            RetryError::Database(cause) => cause.into(),
        }
    }
}

impl From<EndMeetingError> for ApiError {
    fn from(error: EndMeetingError) -> Self {
        let message = error.to_string();
        match error {
            EndMeetingError::UnknownMeeting { .. } => Self::not_found(message),
            EndMeetingError::NoActiveSession { .. } => Self::new(StatusCode::CONFLICT, "no_active_session", message),
            EndMeetingError::Unauthorized(_) => Self::new(StatusCode::BAD_GATEWAY, "realtimekit_unauthorized", message),
            EndMeetingError::Unavailable(cause) => {
                Self::unavailable("realtimekit_unavailable", message, Duration::from_secs(30))
                    .caused_by(anyhow::Error::new(cause))
            }
            // A 400 is about the meeting id we passed on; anything else is RealtimeKit's own refusal.
            EndMeetingError::Rejected(cause) if cause.status() == Some(StatusCode::BAD_REQUEST) => {
                Self::bad_request("realtimekit_rejected", message)
            }
            EndMeetingError::Rejected(cause) => {
                Self::new(StatusCode::BAD_GATEWAY, "realtimekit_rejected", message).caused_by(anyhow::Error::new(cause))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.cause {
                Some(cause) => {
                    tracing::error!(status = self.status.as_u16(), code = self.code, error = %format!("{cause:#}"), "{}", self.message)
                }
                None => tracing::warn!(status = self.status.as_u16(), code = self.code, "{}", self.message),
            }
        } else {
            tracing::info!(status = self.status.as_u16(), code = self.code, "{}", self.message);
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.bearer_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.close_connection {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
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

/// The answer past a class's capacity (see `http::shed_load`).
pub(crate) fn overloaded() -> ApiError {
    ApiError::unavailable(
        "overloaded",
        "the service is at capacity; try again shortly",
        Duration::from_secs(1),
    )
}
