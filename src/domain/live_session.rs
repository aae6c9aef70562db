//! `meeting.started`: a session RealtimeKit reports as started. It is live until its `meeting.ended` arrives (or
//! reconciliation finds it ended); the fields it shares with `meeting.ended` are read here, for both.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::lenient;
use super::limits::{MAX_ID_BYTES, MAX_TEXT_BYTES, check_lengths, check_path_ids};
use super::names::UnknownValue;

pub const MEETING_STARTED: &str = "meeting.started";

/// Whether a recorded session is still going on: `live` from its `meeting.started` until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Live,
    Ended,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(
            &[Self::Live, Self::Ended],
            Self::as_str,
            "session status",
            text.to_owned(),
        )
    }
}

/// What a session event's `meeting` object says of the session, whether it started or ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedSession {
    pub session_id: String,
    pub meeting_id: String,
    pub meeting_title: Option<String>,
    pub room_name: Option<String>,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub meeting_created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
}

/// The `meeting` object of a session event; some RealtimeKit events are flat (no `meeting` object): the top level
/// then.
pub(super) fn meeting_object(payload: &Value) -> &Value {
    payload.get("meeting").filter(|m| m.is_object()).unwrap_or(payload)
}

impl StartedSession {
    /// Reads a `meeting.started` payload. `meeting.status` is not read: the event is what says the session started.
    pub fn from_payload(payload: &Value) -> Result<Self, String> {
        let started = Self::read(payload)
            .map_err(|missing| format!("{MEETING_STARTED} without a usable {}", missing.join(", ")))?;
        started.check_lengths()?;
        Ok(started)
    }

    /// The fields every session event carries, or the names of the required ones that are missing.
    pub(super) fn read(payload: &Value) -> Result<Self, Vec<&'static str>> {
        let meeting = meeting_object(payload);
        let field = |name: &str| meeting.get(name);
        let session_id = lenient::text(field("sessionId"));
        let meeting_id = lenient::text(field("id")).or_else(|| lenient::text(field("meetingId")));
        let (Some(session_id), Some(meeting_id)) = (session_id.clone(), meeting_id.clone()) else {
            let missing = [("meeting.sessionId", session_id), ("meeting.id", meeting_id)];
            return Err(missing
                .into_iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| n)
                .collect());
        };
        let organized_by = field("organizedBy");
        Ok(Self {
            session_id,
            meeting_id,
            meeting_title: lenient::text(field("title")),
            room_name: lenient::text(field("roomName")),
            organization_id: lenient::text(organized_by.and_then(|o| o.get("id"))),
            organization_name: lenient::text(organized_by.and_then(|o| o.get("name"))),
            meeting_created_at: lenient::timestamp(field("createdAt")),
            started_at: lenient::timestamp(field("startedAt")),
        })
    }

    /// Every text within its documented length, so that the database never refuses a session for its size.
    pub(super) fn check_lengths(&self) -> Result<(), String> {
        check_lengths(&[
            ("meeting.sessionId", Some(&self.session_id), MAX_ID_BYTES),
            ("meeting.id", Some(&self.meeting_id), MAX_ID_BYTES),
            ("meeting.organizedBy.id", self.organization_id.as_deref(), MAX_ID_BYTES),
            ("meeting.title", self.meeting_title.as_deref(), MAX_TEXT_BYTES),
            ("meeting.roomName", self.room_name.as_deref(), MAX_TEXT_BYTES),
            (
                "meeting.organizedBy.name",
                self.organization_name.as_deref(),
                MAX_TEXT_BYTES,
            ),
        ])?;
        check_path_ids(&[
            ("meeting.sessionId", &self.session_id),
            ("meeting.id", &self.meeting_id),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Classified, classify, fixture};

    #[test]
    fn the_documented_sample_is_a_started_session() {
        let Classified::Started(started) = classify(Some(&fixture(MEETING_STARTED))) else {
            panic!("the sample is a usable meeting.started");
        };
        assert_eq!(started.session_id, "05e57591-d89e-45c9-ae44-08dc1eaad0e0");
        assert_eq!(started.meeting_title.as_deref(), Some("Weekly sync"));
        assert_eq!(
            started.organization_id.as_deref(),
            Some("c94c437b-592a-4a39-b9e2-47ef1451e43b")
        );
        assert!(started.started_at.is_some());
    }

    #[test]
    fn a_start_without_its_ids_says_which() {
        let payload = serde_json::json!({"event": MEETING_STARTED, "meeting": {"title": "x"}});
        match classify(Some(&payload)) {
            Classified::Unprocessable { reason, .. } => {
                assert!(reason.contains("meeting.sessionId, meeting.id"), "{reason}")
            }
            other => panic!("unprocessable expected, got {other:?}"),
        }
    }
}
