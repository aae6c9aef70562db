//! `POST /meetings/{meeting_id}/end`: end the meeting's active session for everyone, optionally disabling the
//! meeting first. The `meeting.ended` webhook that follows is recorded by the receiver as usual.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::realtimekit::end_meeting::{EndMeetingError, EndedMeeting, end_meeting};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndMeetingRequest {
    #[serde(default)]
    disable: bool,
}

pub async fn end(
    State(state): State<AppState>,
    Path(meeting_id): Path<String>,
    body: Result<Json<EndMeetingRequest>, JsonRejection>,
) -> Result<Json<EndedMeeting>, ApiError> {
    let request = match body {
        Ok(Json(request)) => request,
        // No body at all is the same as `{}`.
        Err(JsonRejection::MissingJsonContentType(_)) => EndMeetingRequest::default(),
        Err(rejection) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("{}; the body is optional: {{\"disable\": true}}", rejection.body_text()),
            ));
        }
    };
    let Some(client) = &state.realtimekit else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "realtimekit_not_configured",
            format!(
                "set {} to end sessions from here",
                crate::realtimekit::client::missing_credentials(&state.realtimekit_settings).join(", ")
            ),
        ));
    };
    end_meeting(client, &meeting_id, request.disable)
        .await
        .map(Json)
        .map_err(|error| {
            let message = error.to_string();
            match error {
                EndMeetingError::UnknownMeeting { .. } => ApiError::not_found(message),
                EndMeetingError::NoActiveSession { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "no_active_session", message)
                }
                EndMeetingError::Unauthorized(_) => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "realtimekit_unauthorized", message)
                }
                EndMeetingError::Unavailable(cause) => {
                    ApiError::unavailable("realtimekit_unavailable", message, Duration::from_secs(30))
                        .caused_by(anyhow::Error::new(cause))
                }
                // A 400 is about the meeting id we passed on; anything else is RealtimeKit's own refusal.
                EndMeetingError::Rejected(cause) if cause.status() == Some(StatusCode::BAD_REQUEST) => {
                    ApiError::bad_request("realtimekit_rejected", message)
                }
                EndMeetingError::Rejected(cause) => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "realtimekit_rejected", message)
                        .caused_by(anyhow::Error::new(cause))
                }
            }
        })
}
