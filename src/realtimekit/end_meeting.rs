//! Ending a meeting's session from the backend (the seed document's "End a session from your backend"), optionally
//! disabling the meeting first so that nobody can rejoin or start a new session ("Disable a meeting").

use serde::Serialize;

use super::client::{ApiError, MeetingStatus, RealtimeKitClient};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EndedMeeting {
    pub kicked_participants_count: u64,
    pub disabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EndMeetingError {
    #[error("RealtimeKit knows no meeting {meeting_id:?}")]
    UnknownMeeting { meeting_id: String },
    #[error("meeting {meeting_id:?} has no active session{}", if *.disabled { " (the meeting was disabled all the same)" } else { "" })]
    NoActiveSession { meeting_id: String, disabled: bool },
    #[error("{}", .0.describe())]
    Unauthorized(ApiError),
    #[error("RealtimeKit is unavailable: {0}")]
    Unavailable(ApiError),
    #[error("RealtimeKit refused the request: {0}")]
    Rejected(ApiError),
}

impl EndMeetingError {
    fn from_api(error: ApiError) -> Self {
        if error.is_auth_failure() {
            Self::Unauthorized(error)
        } else if error.is_transient() {
            Self::Unavailable(error)
        } else {
            Self::Rejected(error)
        }
    }
}

/// With `disable`: `PATCH` the meeting to `INACTIVE`, then kick everyone out. Without: kick everyone out.
pub async fn end_meeting(
    client: &RealtimeKitClient,
    meeting_id: &str,
    disable: bool,
) -> Result<EndedMeeting, EndMeetingError> {
    let unknown = || EndMeetingError::UnknownMeeting {
        meeting_id: meeting_id.to_owned(),
    };
    if disable {
        match client.update_meeting_status(meeting_id, MeetingStatus::Inactive).await {
            Ok(()) => {}
            Err(error) if error.is_not_found() => return Err(unknown()),
            Err(error) => return Err(EndMeetingError::from_api(error)),
        }
    }
    match client.kick_all(meeting_id).await {
        Ok(kicked) => Ok(EndedMeeting {
            kicked_participants_count: kicked.kicked_participants_count,
            disabled: disable,
        }),
        // 404 means no active session, or no such meeting: the meeting itself tells which.
        Err(error) if error.is_not_found() => match client.get_meeting(meeting_id).await {
            Ok(_) => Err(EndMeetingError::NoActiveSession {
                meeting_id: meeting_id.to_owned(),
                disabled: disable,
            }),
            Err(lookup) if lookup.is_not_found() => Err(unknown()),
            Err(lookup) => Err(EndMeetingError::from_api(lookup)),
        },
        Err(error) => Err(EndMeetingError::from_api(error)),
    }
}
