//! Fresh download URLs for a session's artifacts (`/recordings/{id}`, `/sessions/{id}/transcript|summary|chat`),
//! and a meeting's recordings (`/recordings?meeting_id=`), for when an event's URL has expired or never came.
//! RealtimeKit keeps the files 7 days: past that, these answer 404 or no URL, and the artifact is gone.

use reqwest::Method;
use serde_json::Value;

use super::transport::{Repeat, list_in, segment};
use super::{ApiError, RealtimeKitClient};
use crate::domain::artifact::{Announcement, ArtifactKind};
use crate::domain::lenient;

/// A download URL the API gave, with what it says of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshSource {
    pub url: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub size_bytes: Option<i64>,
}

impl RealtimeKitClient {
    /// A fresh URL for an artifact; `None` when RealtimeKit no longer has it (404, or an answer without a URL).
    pub async fn fresh_source(
        &self,
        session_id: &str,
        kind: ArtifactKind,
        recording_id: &str,
    ) -> Result<Option<FreshSource>, ApiError> {
        let path = match kind {
            ArtifactKind::Recording => format!("recordings/{}", segment(recording_id)),
            other => format!("sessions/{}/{}", segment(session_id), other.as_str()),
        };
        let envelope = match self.call(Method::GET, &path, &[], None::<&()>, Repeat::Safe).await {
            Ok(envelope) => envelope,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error),
        };
        let data = envelope.data.unwrap_or(Value::Null);
        // Field names differ between the calls and between versions (`transcript_download_url`,
        // `summaryDownloadUrl`, `download_url`): every spelling is read.
        let field = |suffix: &str| {
            let own = match kind {
                ArtifactKind::Recording => suffix.to_owned(),
                other => format!("{}_{suffix}", other.as_str()),
            };
            let names = [snake_to_camel(&own), own, snake_to_camel(suffix), suffix.to_owned()];
            names.into_iter().find_map(|name| data.get(&name))
        };
        let Some(url) = lenient::text(field("download_url")) else {
            return Ok(None);
        };
        Ok(Some(FreshSource {
            url,
            expires_at: lenient::timestamp(field("download_url_expiry")),
            size_bytes: lenient::integer(field("file_size")),
        }))
    }

    /// What the API says of a session's artifacts: its meeting's recordings for this session, and its transcript,
    /// summary and chat when they exist. Used by reconciliation for sessions whose events never came.
    pub async fn artifacts_of_session(
        &self,
        session_id: &str,
        meeting_id: &str,
        organization_id: Option<&str>,
    ) -> Result<Vec<Announcement>, ApiError> {
        let mut found = Vec::new();
        let query = [("meeting_id", meeting_id.to_owned()), ("per_page", "100".to_owned())];
        let envelope = self
            .call(Method::GET, "recordings", &query, None::<&()>, Repeat::Safe)
            .await?;
        let recordings: Vec<Value> = list_in(&envelope, "recordings")?;
        for recording in recordings {
            let text = |name: &str| lenient::text(recording.get(name));
            let belongs = text("session_id").is_none_or(|id| id == session_id);
            let (Some(recording_id), true) = (text("id"), belongs) else {
                continue;
            };
            found.push(Announcement {
                session_id: session_id.to_owned(),
                meeting_id: Some(meeting_id.to_owned()),
                organization_id: organization_id.map(str::to_owned),
                kind: ArtifactKind::Recording,
                artifact_id: recording_id,
                status: text("status").map(|s| s.to_ascii_uppercase()),
                download_url: text("download_url"),
                expires_at: lenient::timestamp(recording.get("download_url_expiry")),
                size_bytes: lenient::integer(recording.get("file_size")),
                file_name: text("output_file_name"),
                duration_secs: lenient::integer(recording.get("recording_duration")),
                started_at: lenient::timestamp(recording.get("started_time")),
                stopped_at: lenient::timestamp(recording.get("stopped_time")),
            });
        }
        for kind in [ArtifactKind::Transcript, ArtifactKind::Summary, ArtifactKind::Chat] {
            let Some(source) = self.fresh_source(session_id, kind, "").await? else {
                continue;
            };
            found.push(Announcement {
                session_id: session_id.to_owned(),
                meeting_id: Some(meeting_id.to_owned()),
                organization_id: organization_id.map(str::to_owned),
                kind,
                artifact_id: String::new(),
                status: None,
                download_url: Some(source.url),
                expires_at: source.expires_at,
                size_bytes: source.size_bytes,
                file_name: None,
                duration_secs: None,
                started_at: None,
                stopped_at: None,
            });
        }
        Ok(found)
    }
}

fn snake_to_camel(snake: &str) -> String {
    let mut camel = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    camel
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_names_are_read_in_both_cases() {
        assert_eq!(
            super::snake_to_camel("summary_download_url_expiry"),
            "summaryDownloadUrlExpiry"
        );
    }
}
