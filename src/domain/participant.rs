//! `meeting.participantJoined` and `meeting.participantLeft`: who attended a session, and when. A person who rejoins
//! gets a new `peerId`, so each peer is one attendance entry; its join and its leave may arrive in either order, or
//! after `meeting.ended`, and merge into the same entry (the earliest join, the latest leave).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::lenient;
use super::limits::{MAX_ID_BYTES, MAX_TEXT_BYTES, check_lengths};

pub const PARTICIPANT_JOINED: &str = "meeting.participantJoined";
pub const PARTICIPANT_LEFT: &str = "meeting.participantLeft";

/// What one participant event says of one peer.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantUpdate {
    pub session_id: String,
    pub peer_id: String,
    pub display_name: Option<String>,
    pub custom_participant_id: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    /// Only a leave says it.
    pub left_at: Option<DateTime<Utc>>,
}

impl ParticipantUpdate {
    /// Reads either event: `{meeting{sessionId}, participant{peerId, userDisplayName, customParticipantId,
    /// joinedAt, leftAt?}}`.
    pub fn from_payload(event: &str, payload: &Value) -> Result<Self, String> {
        let meeting = payload.get("meeting").filter(|m| m.is_object());
        let Some(participant) = payload.get("participant").filter(|p| p.is_object()) else {
            return Err(format!("{event} without a \"participant\" object"));
        };
        let field = |name: &str| participant.get(name);
        let Some(session_id) = meeting.and_then(|m| lenient::text(m.get("sessionId"))) else {
            return Err(format!("{event} without a usable meeting.sessionId"));
        };
        let Some(peer_id) = lenient::text(field("peerId")).or_else(|| lenient::text(field("id"))) else {
            return Err(format!("{event} without a usable participant.peerId"));
        };
        let update = Self {
            session_id,
            peer_id,
            display_name: lenient::text(field("userDisplayName")).or_else(|| lenient::text(field("displayName"))),
            custom_participant_id: lenient::text(field("customParticipantId"))
                .or_else(|| lenient::text(field("clientSpecificId"))),
            joined_at: lenient::timestamp(field("joinedAt")),
            left_at: if event == PARTICIPANT_LEFT {
                lenient::timestamp(field("leftAt"))
            } else {
                None
            },
        };
        check_lengths(&[
            ("meeting.sessionId", Some(&update.session_id), MAX_ID_BYTES),
            ("participant.peerId", Some(&update.peer_id), MAX_ID_BYTES),
            (
                "participant.customParticipantId",
                update.custom_participant_id.as_deref(),
                MAX_ID_BYTES,
            ),
            (
                "participant.userDisplayName",
                update.display_name.as_deref(),
                MAX_TEXT_BYTES,
            ),
        ])?;
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::fixture as sample;

    #[test]
    fn the_documented_samples_give_one_peer_joining_and_leaving() {
        let joined = ParticipantUpdate::from_payload(PARTICIPANT_JOINED, &sample(PARTICIPANT_JOINED)).expect("usable");
        let left = ParticipantUpdate::from_payload(PARTICIPANT_LEFT, &sample(PARTICIPANT_LEFT)).expect("usable");
        assert_eq!(joined.peer_id, left.peer_id);
        assert_eq!(joined.display_name.as_deref(), Some("Mary Sue"));
        assert_eq!(joined.custom_participant_id.as_deref(), Some("user-123"));
        assert_eq!(joined.joined_at, left.joined_at);
        assert!(joined.left_at.is_none() && left.left_at.is_some());
        let no_peer = serde_json::json!({"meeting": {"sessionId": "s"}, "participant": {}});
        let error = ParticipantUpdate::from_payload(PARTICIPANT_LEFT, &no_peer).expect_err("no peer");
        assert!(error.contains("peerId"), "{error}");
    }
}
