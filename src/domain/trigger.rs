//! What makes a follow-up run: `[[followups]] on = [...]`. Each occurrence of a trigger gives one job per
//! follow-up that listens for it, and one message.

use serde::{Deserialize, Serialize};

use super::names::UnknownValue;

/// The occurrences a follow-up can run on, named as in `on = [...]`, a job's `trigger`, a message's `type` and its
/// CloudEvents `ce-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Trigger {
    /// The session is first recorded (`meeting.ended`, or found ended by reconciliation).
    #[serde(rename = "session.ended")]
    SessionEnded,
    /// RealtimeKit said the session started (`meeting.started`).
    #[serde(rename = "session.started")]
    SessionStarted,
    /// A participant joined (`meeting.participantJoined`): one message per participant and session.
    #[serde(rename = "participant.joined")]
    ParticipantJoined,
    /// A participant left (`meeting.participantLeft`): one message per participant and session.
    #[serde(rename = "participant.left")]
    ParticipantLeft,
    /// A file of the session (a recording, its transcript, its summary, its chat) is in the archive: one message
    /// per file.
    #[serde(rename = "artifact.archived")]
    ArtifactArchived,
    /// Everything the meeting's settings promise has arrived and is archived or known lost, or the wait for it
    /// (`followups.completion_timeout_hours`) ran out.
    #[serde(rename = "session.completed")]
    SessionCompleted,
}

impl Trigger {
    pub const ALL: [Self; 6] = [
        Self::SessionEnded,
        Self::SessionStarted,
        Self::ParticipantJoined,
        Self::ParticipantLeft,
        Self::ArtifactArchived,
        Self::SessionCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionEnded => "session.ended",
            Self::SessionStarted => "session.started",
            Self::ParticipantJoined => "participant.joined",
            Self::ParticipantLeft => "participant.left",
            Self::ArtifactArchived => "artifact.archived",
            Self::SessionCompleted => "session.completed",
        }
    }

    /// Whether it happens once the session is over, so that its duration is known (`min_duration_secs` applies).
    pub fn after_the_end(self) -> bool {
        matches!(
            self,
            Self::SessionEnded | Self::ArtifactArchived | Self::SessionCompleted
        )
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// For rows: an unknown trigger (written by a newer version) is an error, never a guess.
impl TryFrom<String> for Trigger {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "follow-up trigger", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_read_back_by_the_names_they_are_configured_and_stored_by() {
        for trigger in Trigger::ALL {
            let configured: Trigger =
                serde_json::from_value(serde_json::Value::String(trigger.as_str().to_owned())).expect("named");
            assert_eq!(configured, trigger);
            assert_eq!(Trigger::try_from(trigger.as_str().to_owned()).ok(), Some(trigger));
        }
        assert!(Trigger::try_from("session_ended".to_owned()).is_err());
    }
}
