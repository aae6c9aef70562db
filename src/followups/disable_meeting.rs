//! `kind = "disable_meeting"`: sets the meeting `INACTIVE` after its session ends, so nobody can join it or start a
//! new session (the seed document's "Disable a meeting"). Idempotent: an already inactive meeting is success.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use crate::domain::job::FollowupKind;
use crate::realtimekit::client::MeetingStatus;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {}

pub struct DisableMeetingFollowup {
    name: String,
}

impl DisableMeetingFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let _: Options = options(raw)?;
        Ok(Arc::new(Self { name }))
    }
}

#[async_trait::async_trait]
impl Followup for DisableMeetingFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::DisableMeeting
    }

    fn target(&self) -> String {
        "the RealtimeKit API".to_owned()
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let session = occurrence.ended_session()?;
        let client = context.realtimekit_for(session)?;
        let result = client
            .update_meeting_status(&session.ended.meeting_id, MeetingStatus::Inactive)
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        if error.is_transient() {
            return Err(FollowupError::Retryable(error.into()));
        }
        if error.is_not_found() {
            return Err(FollowupError::Permanent(anyhow::anyhow!(
                "RealtimeKit knows no meeting {}",
                session.ended.meeting_id
            )));
        }
        // Refused: if the meeting is inactive already, the work is done.
        match client.get_meeting(&session.ended.meeting_id).await {
            Ok(meeting) if meeting.status.as_deref() == Some("INACTIVE") => Ok(()),
            _ if error.is_auth_failure() => Err(FollowupError::Retryable(anyhow::anyhow!(error.describe()))),
            _ => Err(FollowupError::Permanent(error.into())),
        }
    }
}
