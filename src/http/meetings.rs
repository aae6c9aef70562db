//! `POST /meetings/{meeting_id}/end`: end the meeting's active session for everyone, optionally disabling the
//! meeting first. The `meeting.ended` webhook that follows is recorded by the receiver as usual.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::realtimekit::client::NoClient;
use crate::realtimekit::end_meeting::{EndedMeeting, end_meeting};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndMeetingRequest {
    /// First set the meeting `INACTIVE`, so nobody can rejoin or start a new session.
    #[serde(default)]
    disable: bool,
    /// The app the meeting belongs to; required only when more than one app is configured.
    #[serde(default)]
    app_id: Option<String>,
}

#[utoipa::path(post, path = "/meetings/{meeting_id}/end", operation_id = "end_meeting", tag = "meetings",
    params(("meeting_id" = String, Path, description = "The RealtimeKit meeting id")),
    request_body(content = Option<EndMeetingRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The active session was ended", body = EndedMeeting),
        (status = 400, description = "The body or the meeting id is invalid, the app is missing (several are configured) or not configured, or RealtimeKit refused the meeting id", body = ErrorBody),
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
                format!(
                    "{}; the body is optional: {{\"disable\": true, \"app_id\": \"...\"}}",
                    rejection.body_text()
                ),
            ));
        }
    };
    end_one(&state, &meeting_id, request.app_id.as_deref(), request.disable)
        .await
        .map(Json)
}

/// Ends the meeting's active session, disabling the meeting first when asked (the console ends meetings through it
/// too).
pub(crate) async fn end_one(
    state: &AppState,
    meeting_id: &str,
    app_id: Option<&str>,
    disable: bool,
) -> Result<EndedMeeting, ApiError> {
    super::params::path_id("meeting_id", meeting_id)?;
    let app_id = app_id.map(str::trim).filter(|a| !a.is_empty());
    let (_, client) = state.realtimekit.for_app(app_id).map_err(|why| {
        let apps: Vec<&str> = state.realtimekit.apps().iter().map(|a| a.app_id.as_str()).collect();
        match why {
            NoClient::WhichApp(_) => ApiError::bad_request(
                "app_required",
                format!("{why}: give \"app_id\" in the body, one of {}", apps.join(", ")),
            ),
            NoClient::NotConfigured(_) => ApiError::bad_request(
                "unknown_app",
                format!("{why}; the configured apps are {}", apps.join(", ")),
            ),
            NoClient::NoApp | NoClient::NoCredentials { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "realtimekit_not_configured",
                format!("{why}, to end sessions from here"),
            ),
        }
    })?;
    end_meeting(client, meeting_id, disable).await.map_err(ApiError::from)
}
