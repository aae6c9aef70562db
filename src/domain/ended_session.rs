//! What a verified delivery means: a `meeting.started` or `meeting.ended` that records a session, an event about
//! one of its artifacts, participants or livestreams, another event that is kept but ignored, or a body that cannot
//! be used (kept byte for byte, so nothing verified is ever lost).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::apps::{Admission, Apps, attribute};
use super::artifact::{self, Announcement};
use super::lenient;
use super::limits::{MAX_ID_BYTES, check_lengths};
use super::live_session::{MEETING_STARTED, StartedSession, meeting_object};
use super::livestream::{LIVESTREAMING_STATUS_UPDATE, LivestreamUpdate};
use super::participant::{PARTICIPANT_JOINED, PARTICIPANT_LEFT, ParticipantUpdate};

pub const MEETING_ENDED: &str = "meeting.ended";

/// The end reasons RealtimeKit documents, with how people say them. Others can appear: they are kept and shown
/// as sent.
pub const END_REASONS: [(&str, &str); 2] = [
    ("HOST_ENDED_MEETING", "the host ended it"),
    ("ALL_PARTICIPANTS_LEFT", "everyone left"),
];

/// A reason as people say it, or as sent when it is not one of [`END_REASONS`].
pub fn end_reason_in_words(reason: &str) -> &str {
    (END_REASONS.iter())
        .find(|(sent, _)| *sent == reason)
        .map_or(reason, |(_, words)| words)
}

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
    /// A session started: live until it ends (see `live_session`).
    Started(StartedSession),
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
            Self::Started(started) => Some(&started.session_id),
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
            Self::Started(_) => Some(MEETING_STARTED),
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
    if event == MEETING_STARTED {
        return match StartedSession::from_payload(json) {
            Ok(started) => Classified::Started(started),
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
        let ended_at = lenient::timestamp(meeting_object(payload).get("endedAt"));
        let (started, ended_at) = match (StartedSession::read(payload), ended_at) {
            (Ok(started), Some(ended_at)) => (started, ended_at),
            (read, ended_at) => {
                let mut missing = read.err().unwrap_or_default();
                if ended_at.is_none() {
                    missing.push("meeting.endedAt");
                }
                return Err(format!("{MEETING_ENDED} without a usable {}", missing.join(", ")));
            }
        };
        started.check_lengths()?;
        let reason = lenient::text(payload.get("reason"));
        check_lengths(&[("reason", reason.as_deref(), MAX_ID_BYTES)])?;
        let duration_seconds = started
            .started_at
            .map(|started| (ended_at - started).num_seconds())
            .filter(|seconds| *seconds >= 0);
        Ok(Self {
            session_id: started.session_id,
            meeting_id: started.meeting_id,
            meeting_title: started.meeting_title,
            room_name: started.room_name,
            organization_id: started.organization_id,
            organization_name: started.organization_name,
            reason,
            meeting_created_at: started.meeting_created_at,
            started_at: started.started_at,
            ended_at,
            duration_seconds,
        })
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
            classify(Some(&json!({"event": "meeting.unheardOf"}))),
            Classified::Ignored {
                event: "meeting.unheardOf".into()
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
