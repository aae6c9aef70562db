//! Sending a call: the URL, the token, the envelope, and the retries a call may take.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::status_error;
use super::{ApiError, RealtimeKitClient};
use crate::observability;

/// Whether a call may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// GET, PUT, PATCH, DELETE: repeating has the same effect.
    Safe,
    /// A POST that creates something: repeated only after a 429, which guarantees it was not processed.
    OnlyWhenRateLimited,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `retry-after` honoured in place; a longer one fails the call and leaves the wait to the caller.
    pub max_retry_after: Duration,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            request_timeout: Duration::from_secs(15),
        }
    }
}

impl RealtimeKitClient {
    pub(super) async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        repeat: Repeat,
    ) -> Result<Envelope, ApiError> {
        if path.split(['/', '?']).any(is_dot_segment) {
            return Err(ApiError::DotSegment {
                method,
                path: path.to_owned(),
            });
        }
        let url = self
            .app_base
            .join(path)
            .expect("a relative path joined to a valid base URL is valid");
        let recordings = path.starts_with("recordings");
        let endpoint = endpoint(&method, path);
        let mut attempt = 1;
        loop {
            let waited = (self.budget)
                .acquire(&self.buckets, recordings, self.retry.max_retry_after)
                .await
                .map_err(|error| ApiError::Budget {
                    method: method.clone(),
                    path: path.to_owned(),
                    error,
                })?;
            observability::cloudflare_budget_wait(waited);
            let result = self.send_once(&method, &url, path, query, body).await;
            observability::cloudflare_request(&endpoint, &status_label(&result));
            let error = match result {
                Ok(envelope) => return Ok(envelope),
                Err(error) => error,
            };
            let rate_limited = error.status() == Some(StatusCode::TOO_MANY_REQUESTS);
            let retry_after = match &error {
                ApiError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            if rate_limited {
                // Every caller of these buckets, on every replica, waits it out: the next attempt included.
                let pause = retry_after.unwrap_or_else(|| backoff_with_jitter(&self.retry, attempt));
                if let Err(budget) = self.budget.pause(&self.buckets, recordings, pause).await {
                    tracing::warn!(error = %budget, "could not share a 429's retry-after with the other replicas");
                }
            }
            let may_repeat = match repeat {
                Repeat::Safe => error.is_transient(),
                Repeat::OnlyWhenRateLimited => rate_limited,
            };
            if !may_repeat || attempt >= self.retry.max_attempts {
                return Err(error);
            }
            let wait = match retry_after {
                Some(after) if after > self.retry.max_retry_after => return Err(error),
                // The budget's pause holds the next attempt.
                _ if rate_limited => Duration::ZERO,
                _ => backoff_with_jitter(&self.retry, attempt),
            };
            tracing::warn!(
                method = %method,
                path,
                attempt,
                retry_in_ms = wait.as_millis() as u64,
                error = %error,
                "RealtimeKit API call failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn send_once<B: Serialize + ?Sized>(
        &self,
        method: &Method,
        url: &Url,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Envelope, ApiError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(self.token.expose())
            .timeout(self.retry.request_timeout)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let network = |error: reqwest::Error| ApiError::Network {
            method: method.clone(),
            path: path.to_owned(),
            error: error.without_url(),
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let raw_body = response.text().await.map_err(network)?;
        let parsed: Option<Value> = serde_json::from_str(&raw_body).ok();

        if status.is_success() {
            let Some(Value::Object(mut object)) = parsed else {
                return Err(ApiError::Decode {
                    method: method.clone(),
                    path: path.to_owned(),
                    status,
                    detail: "not a JSON object".into(),
                    raw_body,
                });
            };
            if object.get("success") == Some(&Value::Bool(false)) {
                // A 2xx that says it failed: treat it as the error it reports.
                return Err(status_error(
                    method,
                    path,
                    StatusCode::BAD_GATEWAY,
                    Some(&Value::Object(object)),
                    raw_body,
                    None,
                ));
            }
            return Ok(Envelope {
                status,
                method: method.clone(),
                path: path.to_owned(),
                data: object.remove("data"),
                paging: object.remove("paging"),
            });
        }
        Err(status_error(
            method,
            path,
            status,
            parsed.as_ref(),
            raw_body,
            retry_after,
        ))
    }
}

/// The call's endpoint for metrics: its method and path with every id as `{id}`, so that the label's values are few.
fn endpoint(method: &Method, path: &str) -> String {
    const RESOURCES: [&str; 10] = [
        "sessions",
        "recordings",
        "meetings",
        "webhooks",
        "participants",
        "transcript",
        "summary",
        "chat",
        "active-session",
        "kick-all",
    ];
    let template: Vec<&str> = (path.split('/'))
        .map(|segment| if RESOURCES.contains(&segment) { segment } else { "{id}" })
        .collect();
    format!("{method} /{}", template.join("/"))
}

/// The answer's status for metrics: its code, or `network` when none came.
fn status_label(result: &Result<Envelope, ApiError>) -> String {
    match result {
        Ok(envelope) => envelope.status.as_u16().to_string(),
        Err(ApiError::Status { status, .. } | ApiError::Decode { status, .. }) => status.as_u16().to_string(),
        Err(_) => "network".to_owned(),
    }
}

fn backoff_with_jitter(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exponential = policy.initial_backoff.saturating_mul(1 << (attempt - 1).min(16));
    let capped = exponential.min(policy.max_backoff);
    // Full jitter between half and all of the capped delay.
    let factor = 0.5 + rand::random::<f64>() * 0.5;
    capped.mul_f64(factor)
}

/// A path segment with `/`, `?` and `#` escaped, so an id cannot reach another endpoint.
/// `.` or `..`, plain or percent-encoded in any case: what a URL resolves as a dot segment.
fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

pub use crate::domain::limits::path_segment as segment;

/// The parts of a success envelope the client reads, and the call it answered.
pub(super) struct Envelope {
    status: StatusCode,
    method: Method,
    path: String,
    pub(super) data: Option<Value>,
    paging: Option<Value>,
}

impl Envelope {
    /// True when `paging.total_count` says `seen` items cover everything; false when paging is absent.
    pub(super) fn is_last_page(&self, seen: usize) -> bool {
        let paging = self
            .paging
            .as_ref()
            .or_else(|| self.data.as_ref().and_then(|d| d.get("paging")));
        paging
            .and_then(|p| p.get("total_count"))
            .and_then(Value::as_u64)
            .is_some_and(|total| seen as u64 >= total)
    }
}

pub(super) fn data<T: DeserializeOwned>(envelope: Envelope) -> Result<T, ApiError> {
    decode(envelope.data.unwrap_or(Value::Null), &envelope.method, &envelope.path)
}

fn decode<T: DeserializeOwned>(value: Value, method: &Method, path: &str) -> Result<T, ApiError> {
    let raw_body = value.to_string();
    serde_json::from_value(value).map_err(|e| ApiError::Decode {
        method: method.clone(),
        path: path.to_owned(),
        status: StatusCode::OK,
        detail: e.to_string(),
        raw_body,
    })
}

/// A list found at `data.<key>`, or `data` itself when it is the list.
pub(super) fn list_in<T: DeserializeOwned>(envelope: &Envelope, key: &str) -> Result<Vec<T>, ApiError> {
    let list = match &envelope.data {
        Some(Value::Array(items)) => Value::Array(items.clone()),
        Some(data) => data.get(key).cloned().unwrap_or(Value::Array(Vec::new())),
        None => Value::Array(Vec::new()),
    };
    decode(list, &envelope.method, &envelope.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(segment("abc-123"), "abc-123");
        assert_eq!(segment("../x?y#z"), "..%2Fx%3Fy%23z");
    }

    #[test]
    fn endpoints_name_no_id() {
        assert_eq!(
            endpoint(&Method::GET, "sessions/abc-123/participants"),
            "GET /sessions/{id}/participants"
        );
        assert_eq!(
            endpoint(&Method::POST, "meetings/m%2F1/active-session/kick-all"),
            "POST /meetings/{id}/active-session/kick-all"
        );
        assert_eq!(endpoint(&Method::GET, "recordings"), "GET /recordings");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            ..RetryPolicy::default()
        };
        for attempt in 1..10 {
            let wait = backoff_with_jitter(&policy, attempt);
            assert!(wait <= Duration::from_millis(400), "{wait:?}");
            assert!(wait >= Duration::from_millis(50), "{wait:?}");
        }
    }
}
