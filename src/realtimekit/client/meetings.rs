//! `/meetings`: read a meeting, set its status, and end its active session.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::sessions::lenient_u64;
use super::transport::{Repeat, data, segment};
use super::{ApiError, RealtimeKitClient};

impl RealtimeKitClient {
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
    /// The settings that promise files after a session: a recording, a transcript, a summary, the chat. Read
    /// leniently (`true` or `"true"`); anything else is `None`, not an error that would hide the meeting.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub record_on_start: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub transcribe_on_end: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub summarize_on_end: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub persist_chat: Option<bool>,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(value) => Some(value),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct KickAll {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub kicked_participants_count: u64,
}
