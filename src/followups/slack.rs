//! `kind = "slack"`: a Slack-compatible incoming-webhook message: the meeting title, how long it lasted, why it
//! ended, and its participants when a report already knows them.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::report::Report;
use super::{Followup, FollowupContext, FollowupError, http_url, options, post_to_receiver};
use crate::domain::Secret;
use crate::domain::job::FollowupKind;
use crate::store::sessions::Session;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// The incoming-webhook URL holds its own secret.
    url: Secret,
}

pub struct SlackFollowup {
    name: String,
    url: reqwest::Url,
}

impl SlackFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let options: Options = options(raw)?;
        let url =
            http_url(options.url.expose()).map_err(|_| "url must be an http(s) incoming-webhook URL".to_owned())?;
        Ok(Arc::new(Self { name, url }))
    }
}

/// `1h 05m`, `12m 30s`, `45s`.
pub fn human_duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m"),
    }
}

/// Text from a delivery or from Cloudflare, as Slack shows it plainly: `&`, `<` and `>` are the three characters
/// Slack's markup gives a meaning (mentions such as `<!channel>`, links such as `<https://...|label>`), and Slack
/// documents escaping exactly these.
fn plain(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn message(session: &Session, report: Option<&Report>) -> String {
    let title = plain(
        session
            .ended
            .meeting_title
            .as_deref()
            .unwrap_or(&session.ended.meeting_id),
    );
    let mut text = format!("Meeting *{title}* ended");
    if let Some(seconds) = session.ended.duration_seconds {
        text.push_str(&format!(" after {}", human_duration(seconds)));
    }
    if let Some(reason) = &session.ended.reason {
        let reason = match reason.as_str() {
            "HOST_ENDED_MEETING" => "the host ended it",
            "ALL_PARTICIPANTS_LEFT" => "everyone left",
            other => other,
        };
        text.push_str(&format!(" ({})", plain(reason)));
    }
    text.push('.');
    if let Some(report) = report.filter(|r| !r.participants.is_empty()) {
        let names: Vec<String> = report
            .participants
            .iter()
            .map(|p| plain(p.name.as_deref().unwrap_or("(unnamed)")))
            .collect();
        text.push_str(&format!("\n{} participants: {}", names.len(), names.join(", ")));
    }
    text
}

#[async_trait::async_trait]
impl Followup for SlackFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Slack
    }

    async fn run(&self, session: &Session, context: &FollowupContext) -> Result<(), FollowupError> {
        let report = crate::store::reports::get(&context.db, &session.ended.session_id)
            .await
            .map_err(|e| FollowupError::Retryable(anyhow::Error::new(e).context("reading the session report")))?;
        let request = context
            .http
            .post(self.url.clone())
            .json(&json!({ "text": message(session, report.as_ref()) }));
        post_to_receiver(&self.url, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(750), "12m 30s");
        assert_eq!(human_duration(3900), "1h 05m");
    }
}
