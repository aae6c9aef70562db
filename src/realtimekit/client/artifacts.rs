//! Fresh download URLs for a session's artifacts (`/recordings/{id}`, `/sessions/{id}/transcript|summary|chat`),
//! a meeting's recordings (`/recordings?meeting_id=`), for when an event's URL has expired or never came, and a
//! recording's session, for events that do not name it.
//! RealtimeKit keeps the files 7 days: past that, these answer 404 or no URL, and the artifact is gone.

use reqwest::Method;
use serde_json::Value;

use super::transport::{Repeat, list_in, segment};
use super::{ApiError, RealtimeKitClient};
use crate::domain::artifact::{Announcement, ArtifactKind};
use crate::domain::lenient;
use crate::domain::recording::{ArtifactFile, RecordingFields};

/// A download URL the API gave, with what it says of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshSource {
    pub url: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub size_bytes: Option<i64>,
}

impl RealtimeKitClient {
    /// What `GET /recordings/{id}` says of a recording (its files in either shape, its status, its session);
    /// `None` when RealtimeKit does not know it (404).
    pub async fn recording(&self, recording_id: &str) -> Result<Option<RecordingFields>, ApiError> {
        let path = format!("recordings/{}", segment(recording_id));
        let envelope = match self.call(Method::GET, &path, &[], None::<&()>, Repeat::Safe).await {
            Ok(envelope) => envelope,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error),
        };
        let data = envelope.data.unwrap_or(Value::Null);
        // Older answers wrapped it as `data.recording`.
        let recording = data.get("recording").filter(|r| r.is_object()).unwrap_or(&data);
        RecordingFields::read(recording)
            .map(Some)
            .map_err(|detail| ApiError::Decode {
                method: Method::GET,
                path,
                status: reqwest::StatusCode::OK,
                detail,
                raw_body: data.to_string(),
            })
    }

    /// A fresh URL for one file of an artifact; `None` when RealtimeKit no longer has it (404, or an answer
    /// without that file's URL).
    pub async fn fresh_source(
        &self,
        session_id: &str,
        kind: ArtifactKind,
        recording_id: &str,
        file: &ArtifactFile,
    ) -> Result<Option<FreshSource>, ApiError> {
        if kind == ArtifactKind::Recording {
            let Some(recording) = self.recording(recording_id).await? else {
                return Ok(None);
            };
            let expires_at = recording.expires_at;
            return Ok((recording.files.into_iter())
                .find(|announced| &announced.file == file)
                .map(|announced| FreshSource {
                    url: announced.url,
                    expires_at,
                    size_bytes: announced.size_bytes,
                }));
        }
        let path = format!("sessions/{}/{}", segment(session_id), kind.as_str());
        let envelope = match self.call(Method::GET, &path, &[], None::<&()>, Repeat::Safe).await {
            Ok(envelope) => envelope,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error),
        };
        let data = envelope.data.unwrap_or(Value::Null);
        // Field names differ between the calls and between versions (`transcript_download_url`,
        // `summaryDownloadUrl`, `download_url`): every spelling is read.
        let field = |suffix: &str| {
            let own = format!("{}_{suffix}", kind.as_str());
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

    /// What the API says of a session's artifacts: its meeting's recordings for this session (every file of each,
    /// in either shape), and its transcript, summary and chat when they exist. Used by reconciliation for sessions
    /// whose events never came.
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
            let fields = match RecordingFields::read(&recording) {
                Ok(fields) => fields,
                Err(why) => {
                    tracing::warn!(meeting_id, %why, "a recording the API listed cannot be read; skipped");
                    continue;
                }
            };
            if fields.session_id.as_deref().is_some_and(|id| id != session_id) {
                continue;
            }
            let owner = organization_id.map(str::to_owned);
            found.extend(Announcement::of_recording(
                fields,
                session_id.to_owned(),
                Some(meeting_id.to_owned()),
                owner,
            ));
        }
        for kind in [ArtifactKind::Transcript, ArtifactKind::Summary, ArtifactKind::Chat] {
            let Some(source) = self.fresh_source(session_id, kind, "", &ArtifactFile::Main).await? else {
                continue;
            };
            found.push(Announcement::of_file(
                kind,
                session_id.to_owned(),
                Some(meeting_id.to_owned()),
                organization_id.map(str::to_owned),
                source.url,
                source.expires_at,
                source.size_bytes,
            ));
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
