//! What a failed call says: the status, Cloudflare's code and message in any of its error shapes, and the raw body.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::TOKEN_PERMISSION;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Cloudflare answered with an error status.
    #[error("{method} {path} answered {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        code: Option<String>,
        message: String,
        /// The body as received, for the log.
        raw_body: String,
        retry_after: Option<Duration>,
    },
    /// No answer. The text carries the transport error's whole chain ("connection refused" and all) once; the
    /// URL is left out since the method and path already say it.
    #[error("{method} {path}: {}", with_causes(error))]
    Network {
        method: Method,
        path: String,
        error: reqwest::Error,
    },
    #[error("{method} {path} answered {status} with a body that is not the expected envelope: {detail}")]
    Decode {
        method: Method,
        path: String,
        status: StatusCode,
        detail: String,
        raw_body: String,
    },
    /// Not sent: an id of `.` or `..` would leave its path segment (URLs resolve dot segments, encoded or not), and
    /// the call would reach another resource of the app.
    #[error("{method} {path} was not sent: an id of \".\" or \"..\" cannot be a path segment")]
    DotSegment { method: Method, path: String },
    /// Not sent: the budget of calls (see `budget`) has none left for a while, or cannot be read.
    #[error("{method} {path} was not sent: {error}")]
    Budget {
        method: Method,
        path: String,
        error: super::budget::BudgetError,
    },
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// The Cloudflare message, and for an authentication failure the permission the token needs: what an operator
    /// reads in logs, `/readyz` details and command-line errors.
    pub fn describe(&self) -> String {
        if self.is_auth_failure() {
            format!(
                "Cloudflare refused the API token ({}): it needs the {TOKEN_PERMISSION} permission for this account",
                self.message()
            )
        } else {
            self.to_string()
        }
    }

    /// 401 or 403: the token is wrong or lacks the permission.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self.status(), Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN))
    }

    /// Worth trying again later: rate limited, a server error, or no answer at all.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            Self::Network { .. } => true,
            Self::Decode { status, .. } => status.is_server_error(),
            Self::DotSegment { .. } => false,
            Self::Budget { .. } => true,
        }
    }

    /// The message Cloudflare gave (or the transport error), for logs and operator-facing answers.
    pub fn message(&self) -> String {
        match self {
            Self::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn raw_body(&self) -> Option<&str> {
        match self {
            Self::Status { raw_body, .. } | Self::Decode { raw_body, .. } => Some(raw_body),
            Self::Network { .. } | Self::DotSegment { .. } | Self::Budget { .. } => None,
        }
    }
}

/// An error and its causes, `: `-separated.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

pub(super) fn status_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: Option<&Value>,
    raw_body: String,
    retry_after: Option<Duration>,
) -> ApiError {
    let (code, message) = body.map(error_code_and_message).unwrap_or((None, None));
    let message = message.unwrap_or_else(|| {
        let snippet: String = raw_body.chars().take(200).collect();
        if snippet.trim().is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            snippet
        }
    });
    ApiError::Status {
        method: method.clone(),
        path: path.to_owned(),
        status,
        code,
        message,
        raw_body,
        retry_after,
    }
}

/// RealtimeKit's `{"error": {code, message}}`, Cloudflare's `{"errors": [{code, message}]}`, or a bare `{message}`.
fn error_code_and_message(body: &Value) -> (Option<String>, Option<String>) {
    let text = |v: Option<&Value>| {
        v.and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    if let Some(error) = body.get("error") {
        if error.is_object() {
            return (text(error.get("code")), text(error.get("message")));
        }
        if let Some(message) = text(Some(error)) {
            return (None, Some(message));
        }
    }
    if let Some(first) = body
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
    {
        return (text(first.get("code")), text(first.get("message")));
    }
    (None, text(body.get("message")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_documented_error_shape_gives_its_code_and_message() {
        let cases = [
            (
                json!({"success": false, "error": {"code": 400, "message": "BAD_REQUEST: \"name\" is required"}}),
                Some("400"),
                Some("BAD_REQUEST: \"name\" is required"),
            ),
            (
                json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null}),
                Some("10000"),
                Some("Authentication error"),
            ),
            (json!({"message": "Unauthorized"}), None, Some("Unauthorized")),
            (json!({"something": "else"}), None, None),
        ];
        for (body, code, message) in cases {
            let (c, m) = error_code_and_message(&body);
            assert_eq!((c.as_deref(), m.as_deref()), (code, message), "{body}");
        }
    }
}
