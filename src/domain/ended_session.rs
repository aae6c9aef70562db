//! What a verified delivery means: a `meeting.ended` that records a session, an event announcing one of its
//! artifacts, another event that is kept but ignored, or a body that cannot be used (kept byte for byte, so nothing
//! verified is ever lost).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::apps::{Admission, Apps, attribute};
use super::artifact::{self, Announcement};
use super::lenient;
use super::limits::{MAX_ID_BYTES, MAX_TEXT_BYTES, check_path_ids};
use super::livestream::{LIVESTREAMING_STATUS_UPDATE, LivestreamUpdate};
use super::participant::{PARTICIPANT_JOINED, PARTICIPANT_LEFT, ParticipantUpdate};

pub const MEETING_ENDED: &str = "meeting.ended";

/// A session that RealtimeKit reported as ended: what a `meeting.ended` delivery (or the Sessions API, for a
/// reconciled one) says of it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EndedSession {
    pub session_id: String,
    pub meeting_id: String,
    pub meeting_title: Option<String>,
    pub room_name: Option<String>,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub reason: Option<String>,
    pub meeting_created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: Option<i64>,
}

/// How a recorded session reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionSource {
    /// A verified `meeting.ended` delivery.
    Delivery,
    /// The reconciliation sweep, which found it through the Sessions API when no delivery came.
    Reconciliation,
}

impl SessionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Reconciliation => "reconciliation",
        }
    }
}

/// For rows: an unknown source is an error, never a guess.
impl TryFrom<String> for SessionSource {
    type Error = super::names::UnknownValue;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let all = [Self::Delivery, Self::Reconciliation];
        super::names::UnknownValue::or_variant(&all, Self::as_str, "session source", text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    EndedSession(EndedSession),
    /// A recording, transcript, summary or chat export announced for a session (see `artifact`).
    Artifact(Announcement),
    /// A livestream's status changed (see `livestream`).
    Livestream(LivestreamUpdate),
    /// A participant joined or left (see `participant`).
    Participant {
        event: &'static str,
        update: ParticipantUpdate,
    },
    /// A well-formed event of another type: accepted and kept, nothing to do.
    Ignored {
        event: String,
    },
    /// Verified, but not JSON or not a usable `meeting.ended`.
    Unprocessable {
        event: Option<String>,
        reason: String,
    },
    /// Signed by RealtimeKit, but not for one of the configured apps: kept (within a bound) and nothing else.
    Foreign {
        event: Option<String>,
        reason: String,
    },
}

/// A verified delivery read for the configured apps: the app it belongs to, and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The app id it carries (when one, consistently); for a foreign delivery, the app that is not configured.
    pub app_id: Option<String>,
    pub classified: Classified,
}

/// Reads a verified body: whose it is first, then, for one of ours, what it means. A foreign delivery's content
/// is not read at all.
pub fn read_delivery(json: Option<&Value>, apps: &Apps) -> Reading {
    match apps.admit(&attribute(json)) {
        Admission::Admitted(app_id) => Reading {
            app_id,
            classified: classify(json),
        },
        Admission::Foreign { app_id, reason } => {
            let event = json
                .and_then(|j| j.get("event"))
                .and_then(|e| lenient::text(Some(e)))
                .filter(|e| e.len() <= MAX_ID_BYTES);
            Reading {
                app_id,
                classified: Classified::Foreign { event, reason },
            }
        }
    }
}

impl Classified {
    /// The session the delivery is about, when it is usable.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::EndedSession(session) => Some(&session.session_id),
            Self::Artifact(announcement) => Some(&announcement.session_id),
            Self::Livestream(update) => Some(&update.session_id),
            Self::Participant { update, .. } => Some(&update.session_id),
            _ => None,
        }
    }

    /// The event's name, when the body has a usable one.
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::EndedSession(_) => Some(MEETING_ENDED),
            Self::Artifact(announcement) => Some(announcement.kind.event()),
            Self::Livestream(_) => Some(LIVESTREAMING_STATUS_UPDATE),
            Self::Participant { event, .. } => Some(event),
            Self::Ignored { event } => Some(event),
            Self::Unprocessable { event, .. } | Self::Foreign { event, .. } => event.as_deref(),
        }
    }

    /// Why the body cannot be used, or is not ours.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Unprocessable { reason, .. } | Self::Foreign { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Reads a verified body. `json` is the parsed body, or `None` when it is not JSON.
pub fn classify(json: Option<&Value>) -> Classified {
    let Some(json) = json else {
        return Classified::Unprocessable {
            event: None,
            reason: "the body is not JSON".into(),
        };
    };
    let Some(event) = json.get("event").and_then(Value::as_str).map(|e| e.replace('\0', "")) else {
        return Classified::Unprocessable {
            event: None,
            reason: "the body has no \"event\" field".into(),
        };
    };
    if event.len() > MAX_ID_BYTES {
        return Classified::Unprocessable {
            event: None,
            reason: format!("the event name is longer than {MAX_ID_BYTES} bytes"),
        };
    }
    if let Some(kind) = artifact::kind_of_event(&event) {
        return match Announcement::from_payload(kind, json) {
            Ok(announcement) => Classified::Artifact(announcement),
            Err(reason) => Classified::Unprocessable {
                event: Some(event),
                reason,
            },
        };
    }
    if let Some(known) = [PARTICIPANT_JOINED, PARTICIPANT_LEFT]
        .into_iter()
        .find(|known| *known == event)
    {
        return match ParticipantUpdate::from_payload(known, json) {
            Ok(update) => Classified::Participant { event: known, update },
            Err(reason) => Classified::Unprocessable {
                event: Some(event),
                reason,
            },
        };
    }
    if event == LIVESTREAMING_STATUS_UPDATE {
        return match LivestreamUpdate::from_payload(json) {
            Ok(Some(update)) => Classified::Livestream(update),
            Ok(None) => Classified::Ignored { event },
            Err(reason) => Classified::Unprocessable {
                event: Some(event),
                reason,
            },
        };
    }
    if event != MEETING_ENDED {
        return Classified::Ignored { event };
    }
    match EndedSession::from_payload(json) {
        Ok(session) => Classified::EndedSession(session),
        Err(reason) => Classified::Unprocessable {
            event: Some(event),
            reason,
        },
    }
}

impl EndedSession {
    /// Reads `meeting.*` and `reason` from a `meeting.ended` payload. `meeting.status` is deliberately ignored: it
    /// says `LIVE` even here.
    pub fn from_payload(payload: &Value) -> Result<Self, String> {
        // Some RealtimeKit events are flat (no `meeting` object): read the top level then.
        let meeting = payload.get("meeting").filter(|m| m.is_object()).unwrap_or(payload);
        let field = |name: &str| meeting.get(name);

        let session_id = lenient::text(field("sessionId"));
        let meeting_id = lenient::text(field("id")).or_else(|| lenient::text(field("meetingId")));
        let ended_at = lenient::timestamp(field("endedAt"));

        let mut missing = Vec::new();
        if session_id.is_none() {
            missing.push("meeting.sessionId");
        }
        if meeting_id.is_none() {
            missing.push("meeting.id");
        }
        if ended_at.is_none() {
            missing.push("meeting.endedAt");
        }
        let (Some(session_id), Some(meeting_id), Some(ended_at)) = (session_id, meeting_id, ended_at) else {
            return Err(format!("meeting.ended without a usable {}", missing.join(", ")));
        };
        let organized_by = field("organizedBy");
        let started_at = lenient::timestamp(field("startedAt"));
        let duration_seconds = started_at
            .map(|started| (ended_at - started).num_seconds())
            .filter(|seconds| *seconds >= 0);

        let session = Self {
            session_id,
            meeting_id,
            meeting_title: lenient::text(field("title")),
            room_name: lenient::text(field("roomName")),
            organization_id: lenient::text(organized_by.and_then(|o| o.get("id"))),
            organization_name: lenient::text(organized_by.and_then(|o| o.get("name"))),
            reason: lenient::text(payload.get("reason")),
            meeting_created_at: lenient::timestamp(field("createdAt")),
            started_at,
            ended_at,
            duration_seconds,
        };
        session.check_lengths()?;
        Ok(session)
    }

    /// Every text within its documented length, so that the database never refuses a session for its size.
    fn check_lengths(&self) -> Result<(), String> {
        let ids = [
            ("meeting.sessionId", Some(&self.session_id)),
            ("meeting.id", Some(&self.meeting_id)),
            ("meeting.organizedBy.id", self.organization_id.as_ref()),
            ("reason", self.reason.as_ref()),
        ];
        let texts = [
            ("meeting.title", self.meeting_title.as_ref()),
            ("meeting.roomName", self.room_name.as_ref()),
            ("meeting.organizedBy.name", self.organization_name.as_ref()),
        ];
        let too_long = ids
            .iter()
            .map(|(name, value)| (name, value, MAX_ID_BYTES))
            .chain(texts.iter().map(|(name, value)| (name, value, MAX_TEXT_BYTES)))
            .find(|(_, value, max)| value.is_some_and(|v| v.len() > *max));
        if let Some((name, _, max)) = too_long {
            return Err(format!("{name} is longer than {max} bytes"));
        }
        check_path_ids(&[
            ("meeting.sessionId", &self.session_id),
            ("meeting.id", &self.meeting_id),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/meeting.ended.json")).expect("fixture is JSON")
    }

    #[test]
    fn the_documented_sample_becomes_a_session() {
        let Classified::EndedSession(s) = classify(Some(&sample())) else {
            panic!("the sample is a usable meeting.ended");
        };
        assert_eq!(s.session_id, "05e57591-d89e-45c9-ae44-08dc1eaad0e0");
        assert_eq!(s.meeting_id, "50c8940e-1b97-402a-97d6-2708b7feca41");
        assert_eq!(s.meeting_title.as_deref(), Some("Weekly sync"));
        assert_eq!(s.organization_name.as_deref(), Some("Example organization"));
        assert_eq!(s.reason.as_deref(), Some("ALL_PARTICIPANTS_LEFT"));
        assert_eq!(s.duration_seconds, Some(1800));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let payload = json!({
            "event": "meeting.ended",
            "meeting": {"id": 17, "sessionId": "s-1", "title": null, "endedAt": "2026-06-03 10:30:00"}
        });
        let Classified::EndedSession(s) = classify(Some(&payload)) else {
            panic!("usable");
        };
        assert_eq!(s.meeting_id, "17");
        assert_eq!(s.meeting_title, None);
        assert_eq!(s.started_at, None);
        assert_eq!(s.duration_seconds, None);
        assert_eq!(s.reason, None);
    }

    #[test]
    fn other_events_are_ignored_and_unusable_bodies_say_why() {
        assert_eq!(
            classify(Some(&json!({"event": "meeting.started"}))),
            Classified::Ignored {
                event: "meeting.started".into()
            }
        );
        let cases = [
            (None, "not JSON"),
            (Some(json!([1, 2])), "no \"event\""),
            (Some(json!({"event": 5})), "no \"event\""),
            (
                Some(json!({"event": "meeting.ended"})),
                "meeting.sessionId, meeting.id, meeting.endedAt",
            ),
            (
                Some(json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": "s", "endedAt": "soon"}})),
                "meeting.endedAt",
            ),
        ];
        for (body, expected) in cases {
            match classify(body.as_ref()) {
                Classified::Unprocessable { reason, .. } => {
                    assert!(reason.contains(expected), "{reason}")
                }
                other => panic!("{body:?} should be unprocessable, got {other:?}"),
            }
        }
    }
}
