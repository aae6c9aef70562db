//! A typed client for the RealtimeKit REST API (webhooks, meetings, sessions) under
//! `{api_base}/accounts/{account_id}/realtime/kit/{app_id}`.
//!
//! It decodes RealtimeKit's `{success, data}` envelope and each error shape Cloudflare may answer with, retries the
//! calls that are safe to repeat (5xx, network errors, 429 after its `retry-after`), and never logs the token.

// The error keeps the raw body and the call for the log; it is rare and never on a hot path, so its size is fine.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{RealtimeKitSettings, Secret};

/// The token permission the calls need, named in every authentication failure.
pub const TOKEN_PERMISSION: &str = "Realtime Admin or Realtime";

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
    #[error("{method} {path}: {source}")]
    Network {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {path} answered {status} with a body that is not the expected envelope: {detail}")]
    Decode {
        method: Method,
        path: String,
        status: StatusCode,
        detail: String,
        raw_body: String,
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
            Self::Network { .. } => None,
        }
    }
}

/// Whether a call may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
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

#[derive(Clone)]
pub struct RealtimeKitClient {
    http: reqwest::Client,
    app_base: Url,
    token: Secret,
    retry: RetryPolicy,
}

impl std::fmt::Debug for RealtimeKitClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeKitClient")
            .field("app_base", &self.app_base.as_str())
            .finish()
    }
}

/// What is missing for the client to be usable, as configuration keys.
pub fn missing_credentials(settings: &RealtimeKitSettings) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if settings.account_id.trim().is_empty() {
        missing.push("realtimekit.account_id");
    }
    if settings.app_id.trim().is_empty() {
        missing.push("realtimekit.app_id");
    }
    if settings.api_token.is_empty() {
        missing.push("realtimekit.api_token (or CLOUDFLARE_API_TOKEN)");
    }
    missing
}

impl RealtimeKitClient {
    /// `None` when the account id, app id or token is missing.
    pub fn from_settings(settings: &RealtimeKitSettings, http: reqwest::Client) -> anyhow::Result<Option<Self>> {
        if !missing_credentials(settings).is_empty() {
            return Ok(None);
        }
        Self::new(
            &settings.api_base,
            settings.account_id.trim(),
            settings.app_id.trim(),
            settings.api_token.clone(),
            http,
            RetryPolicy::default(),
        )
        .map(Some)
    }

    pub fn new(
        api_base: &str,
        account_id: &str,
        app_id: &str,
        token: Secret,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let base = format!(
            "{}/accounts/{account_id}/realtime/kit/{app_id}/",
            api_base.trim_end_matches('/')
        );
        let app_base = Url::parse(&base).map_err(|e| anyhow::anyhow!("realtimekit.api_base: {e}"))?;
        Ok(Self {
            http,
            app_base,
            token,
            retry,
        })
    }

    // ---- webhooks ----

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

    // ---- meetings ----

    pub async fn get_meeting(&self, meeting_id: &str) -> Result<Meeting, ApiError> {
        self.call(
            Method::GET,
            &format!("meetings/{}", segment(meeting_id)),
            &[],
            None::<&()>,
            Repeat::Safe,
        )
        .await
        .and_then(data)
    }

    /// `PATCH /meetings/{id}` with `{"status": ...}`: `INACTIVE` stops anyone joining or starting a new session.
    pub async fn update_meeting_status(&self, meeting_id: &str, status: MeetingStatus) -> Result<(), ApiError> {
        let body = serde_json::json!({ "status": status });
        self.call(
            Method::PATCH,
            &format!("meetings/{}", segment(meeting_id)),
            &[],
            Some(&body),
            Repeat::Safe,
        )
        .await
        .map(drop)
    }

    /// Removes everyone from the meeting's active session, which ends it. 404 when there is none (or no meeting).
    pub async fn kick_all(&self, meeting_id: &str) -> Result<KickAll, ApiError> {
        let path = format!("meetings/{}/active-session/kick-all", segment(meeting_id));
        self.call(Method::POST, &path, &[], None::<&()>, Repeat::OnlyWhenRateLimited)
            .await
            .and_then(data)
    }

    // ---- sessions ----

    /// One session; accepts the details flat in `data` or wrapped as `data.session`.
    pub async fn get_session(&self, session_id: &str) -> Result<SessionDetails, ApiError> {
        let mut envelope = self
            .call(
                Method::GET,
                &format!("sessions/{}", segment(session_id)),
                &[],
                None::<&()>,
                Repeat::Safe,
            )
            .await?;
        if let Some(wrapped) = envelope
            .data
            .as_ref()
            .and_then(|d| d.get("session"))
            .filter(|s| s.is_object())
        {
            envelope.data = Some(wrapped.clone());
        }
        data(envelope)
    }

    /// Every participant of a session, paging until a page comes back short.
    pub async fn list_session_participants(&self, session_id: &str) -> Result<Vec<Participant>, ApiError> {
        const PER_PAGE: usize = 100;
        let path = format!("sessions/{}/participants", segment(session_id));
        let mut participants = Vec::new();
        for page in 1.. {
            let query = [
                ("page_no", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
                ("sort_by", "joinedAt".to_owned()),
            ];
            let envelope = self.call(Method::GET, &path, &query, None::<&()>, Repeat::Safe).await?;
            let batch: Vec<Participant> = list_in(&envelope, "participants")?;
            let count = batch.len();
            participants.extend(batch);
            if count < PER_PAGE || envelope.is_last_page(participants.len()) {
                break;
            }
        }
        Ok(participants)
    }

    /// One page of sessions; `status=ENDED` with a `start_time` lists the recently ended ones.
    pub async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, ApiError> {
        let mut params = vec![
            ("page_no", query.page_no.to_string()),
            ("per_page", query.per_page.to_string()),
            ("sort_by", "createdAt".to_owned()),
            ("sort_order", "DESC".to_owned()),
        ];
        if let Some(status) = &query.status {
            params.push(("status", status.clone()));
        }
        if let Some(start) = query.start_time {
            params.push(("start_time", start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        }
        if let Some(end) = query.end_time {
            params.push(("end_time", end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        }
        let envelope = self
            .call(Method::GET, "sessions", &params, None::<&()>, Repeat::Safe)
            .await?;
        let sessions: Vec<SessionDetails> = list_in(&envelope, "sessions")?;
        let last = sessions.len() < query.per_page as usize
            || envelope.is_last_page((query.page_no as usize - 1) * query.per_page as usize + sessions.len());
        Ok(SessionPage { sessions, last })
    }

    // ---- transport ----

    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        repeat: Repeat,
    ) -> Result<Envelope, ApiError> {
        let url = self
            .app_base
            .join(path)
            .expect("a relative path joined to a valid base URL is valid");
        let mut attempt = 1;
        loop {
            let result = self.send_once(&method, &url, path, query, body).await;
            let error = match result {
                Ok(envelope) => return Ok(envelope),
                Err(error) => error,
            };
            let rate_limited = error.status() == Some(StatusCode::TOO_MANY_REQUESTS);
            let may_repeat = match repeat {
                Repeat::Safe => error.is_transient(),
                Repeat::OnlyWhenRateLimited => rate_limited,
            };
            if !may_repeat || attempt >= self.retry.max_attempts {
                return Err(error);
            }
            let wait = match &error {
                ApiError::Status {
                    retry_after: Some(after),
                    ..
                } => {
                    if *after > self.retry.max_retry_after {
                        return Err(error);
                    }
                    *after
                }
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
        let network = |source| ApiError::Network {
            method: method.clone(),
            path: path.to_owned(),
            source,
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

fn status_error(
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

fn backoff_with_jitter(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exponential = policy.initial_backoff.saturating_mul(1 << (attempt - 1).min(16));
    let capped = exponential.min(policy.max_backoff);
    // Full jitter between half and all of the capped delay.
    let factor = 0.5 + rand::random::<f64>() * 0.5;
    capped.mul_f64(factor)
}

/// A path segment with `/`, `?` and `#` escaped, so an id cannot reach another endpoint.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The parts of a success envelope the client reads, and the call it answered.
struct Envelope {
    method: Method,
    path: String,
    data: Option<Value>,
    paging: Option<Value>,
}

impl Envelope {
    /// True when `paging.total_count` says `seen` items cover everything; false when paging is absent.
    fn is_last_page(&self, seen: usize) -> bool {
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

fn data<T: DeserializeOwned>(envelope: Envelope) -> Result<T, ApiError> {
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
fn list_in<T: DeserializeOwned>(envelope: &Envelope, key: &str) -> Result<Vec<T>, ApiError> {
    let list = match &envelope.data {
        Some(Value::Array(items)) => Value::Array(items.clone()),
        Some(data) => data.get(key).cloned().unwrap_or(Value::Array(Vec::new())),
        None => Value::Array(Vec::new()),
    };
    decode(list, &envelope.method, &envelope.path)
}

// ---- the API's types ----

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MeetingStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meeting {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KickAll {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub kicked_participants_count: u64,
}

/// A session as the Sessions API describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionDetails {
    pub id: String,
    #[serde(default)]
    pub associated_id: Option<String>,
    #[serde(default)]
    pub meeting_display_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub max_concurrent_participants: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub minutes_consumed: Option<f64>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Participant {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub custom_participant_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub preset_name: Option<String>,
    #[serde(default)]
    pub joined_at: Option<String>,
    #[serde(default)]
    pub left_at: Option<String>,
    /// Minutes.
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SessionQuery {
    pub status: Option<String>,
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    pub end_time: Option<chrono::DateTime<chrono::Utc>>,
    pub page_no: u32,
    pub per_page: u32,
}

pub struct SessionPage {
    pub sessions: Vec<SessionDetails>,
    /// No page follows this one.
    pub last: bool,
}

fn lenient_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(lenient_number(&Value::deserialize(d)?).map_or(0, |n| n.max(0.0) as u64))
}

fn lenient_opt_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient_number(&Value::deserialize(d)?).map(|n| n.max(0.0) as u64))
}

fn lenient_opt_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(lenient_number(&Value::deserialize(d)?))
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

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(segment("abc-123"), "abc-123");
        assert_eq!(segment("../x?y#z"), "..%2Fx%3Fy%23z");
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
