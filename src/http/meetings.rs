//! `POST /meetings/{meeting_id}/end`: end the meeting's active session for everyone, optionally disabling the
//! meeting first. The `meeting.ended` webhook that follows is recorded by the receiver as usual.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::realtimekit::end_meeting::{EndedMeeting, end_meeting};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndMeetingRequest {
    /// First set the meeting `INACTIVE`, so nobody can rejoin or start a new session.
    #[serde(default)]
    disable: bool,
}

#[utoipa::path(post, path = "/meetings/{meeting_id}/end", tag = "meetings",
    params(("meeting_id" = String, Path, description = "The RealtimeKit meeting id")),
    request_body(content = Option<EndMeetingRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The active session was ended", body = EndedMeeting),
        (status = 400, description = "The body or the meeting id is invalid, or RealtimeKit refused the meeting id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "RealtimeKit knows no such meeting", body = ErrorBody),
        (status = 409, description = "The meeting has no active session (the message says whether it was disabled)", body = ErrorBody),
        (status = 502, description = "RealtimeKit refused the API token or the request", body = ErrorBody),
        (status = 503, description = "RealtimeKit is unavailable, or its credentials are not configured", body = ErrorBody),
    ))]
pub async fn end(
    State(state): State<AppState>,
    Path(meeting_id): Path<String>,
    body: Result<Json<EndMeetingRequest>, JsonRejection>,
) -> Result<Json<EndedMeeting>, ApiError> {
    super::params::path_id("meeting_id", &meeting_id)?;
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
    end_one(&state, &meeting_id, request.disable).await.map(Json)
}

/// Ends the meeting's active session, disabling the meeting first when asked (the console ends meetings through it
/// too).
pub(crate) async fn end_one(state: &AppState, meeting_id: &str, disable: bool) -> Result<EndedMeeting, ApiError> {
    super::params::path_id("meeting_id", meeting_id)?;
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
    end_meeting(client, meeting_id, disable).await.map_err(ApiError::from)
}
