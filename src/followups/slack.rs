//! `kind = "slack"`: a Slack-compatible incoming-webhook message. For `session.ended`: the meeting title, how long
//! it lasted, why it ended, and its participants when a report already knows them; for the other triggers, a line
//! that says what happened (who joined, which file is archived and where).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use super::receivers::{http_url, post_to_receiver, redacted};
use super::report::Report;
use crate::domain::ended_session::end_reason_in_words;
use crate::domain::job::FollowupKind;
use crate::domain::{Secret, Trigger};
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
        let reason = end_reason_in_words(reason);
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

/// One line for a trigger other than the end: `*Ann* joined *Standup*.`, `The transcript of *Standup* is
/// archived (12.0 KiB): <url>`.
fn occurrence_line(occurrence: &Occurrence) -> String {
    let data = &occurrence.data;
    let text = |value: &Value| value.as_str().map(plain);
    let title = text(&data["meeting_title"])
        .or_else(|| text(&data["meeting_id"]))
        .unwrap_or_else(|| plain(&occurrence.session_id));
    let participant = &data["participant"];
    let who = text(&participant["display_name"])
        .or_else(|| text(&participant["peer_id"]))
        .unwrap_or_else(|| "Someone".to_owned());
    match occurrence.trigger {
        Trigger::SessionEnded => format!("Meeting *{title}* ended."),
        Trigger::SessionStarted => format!("Meeting *{title}* started."),
        Trigger::ParticipantJoined => format!("*{who}* joined *{title}*."),
        Trigger::ParticipantLeft => format!("*{who}* left *{title}*."),
        Trigger::ArtifactArchived => {
            let artifact = &data["artifact"];
            let what = match (text(&artifact["kind"]), text(&artifact["file"])) {
                (Some(kind), Some(file)) => format!("{kind} ({file})"),
                (Some(kind), None) => kind,
                _ => "file".to_owned(),
            };
            let mut line = format!("The {what} of *{title}* is archived");
            if let Some(bytes) = artifact["size_bytes"].as_i64() {
                line.push_str(&format!(" ({:.1} KiB)", bytes as f64 / 1024.0));
            }
            if let Some(url) = text(&artifact["url"]) {
                line.push_str(&format!(": <{url}>"));
            }
            line.push('.');
            line
        }
        Trigger::SessionCompleted => format!("Meeting *{title}* is fully processed."),
    }
}

#[async_trait::async_trait]
impl Followup for SlackFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Slack
    }

    fn target(&self) -> String {
        redacted(&self.url)
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let text = match (&occurrence.ended, occurrence.trigger) {
            (Some(session), Trigger::SessionEnded) => {
                let report = crate::store::reports::get(&context.db, &session.ended.session_id)
                    .await
                    .map_err(|e| {
                        FollowupError::Retryable(anyhow::Error::new(e).context("reading the session report"))
                    })?;
                message(session, report.as_ref())
            }
            _ => occurrence_line(occurrence),
        };
        let request = context.http.post(self.url.clone()).json(&json!({ "text": text }));
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
