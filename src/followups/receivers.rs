//! Calling the receivers of webhook and Slack follow-ups: a client that follows no redirect, and answers read
//! within a bound and classified.

use super::followup::FollowupError;

/// The most of a receiver's answer that is read; the rest is never downloaded.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The HTTP client for follow-ups that call receivers: redirects are not followed (a receiver cannot send our
/// signed payload elsewhere), and connecting is bounded.
pub fn outbound_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("rtk-sessions/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// POSTs a request to a receiver and classifies its answer. Errors name the receiver by scheme and host only:
/// its URL may carry a secret (Slack's does), and errors reach `last_error`, logs and the API.
pub(crate) async fn post_to_receiver(
    url: &reqwest::Url,
    request: reqwest::RequestBuilder,
) -> Result<(), FollowupError> {
    let receiver = redacted(url);
    let response = request.send().await.map_err(|error| {
        FollowupError::Retryable(anyhow::Error::new(error.without_url()).context(format!("POST to {receiver}")))
    })?;
    let status = response.status();
    let answer = read_capped(response, MAX_ANSWER_BYTES).await;
    classify_http_status(status, &answer).map_err(|error| error.context(receiver))
}

/// `https://host` (with a port when not the default): what may be said of a receiver's URL.
pub(crate) fn redacted(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://?", url.scheme()),
    }
}

/// At most `limit` bytes of an answer, as text; a receiver cannot make us read (or hold) more.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// Classifies an HTTP answer from a receiver: 2xx done; 4xx other than 408/429 permanent; the rest retry.
pub(crate) fn classify_http_status(status: reqwest::StatusCode, body: &str) -> Result<(), FollowupError> {
    if status.is_success() {
        return Ok(());
    }
    let snippet: String = body.chars().take(300).collect();
    let message = anyhow::anyhow!("the receiver answered {status}: {snippet}");
    if status.is_client_error()
        && status != reqwest::StatusCode::REQUEST_TIMEOUT
        && status != reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        Err(FollowupError::Permanent(message))
    } else {
        Err(FollowupError::Retryable(message))
    }
}

/// Validates a receiver URL option.
pub(crate) fn http_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url {url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("url {url:?} must be http:// or https://"));
    }
    Ok(parsed)
}
