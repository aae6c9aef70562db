//! End a meeting's active session for everyone, optionally disabling the meeting first: `operate` only, with a
//! confirmation. The `meeting.ended` webhook that follows is recorded as usual.

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, page};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::meetings::end_one;

#[derive(Debug, Default, Deserialize)]
pub struct FormParams {
    meeting_id: Option<String>,
    app_id: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    session: ConsoleSession,
    Query(params): Query<FormParams>,
) -> Result<Html<String>, PageError> {
    session.check_operate().map_err(|e| PageError::new(e, &session))?;
    let (meeting_id, app_id) = (params.meeting_id.as_deref(), params.app_id.as_deref());
    Ok(page(
        "End a session",
        Some(&session),
        Section::Meetings,
        end_form(&state, &session, meeting_id.unwrap_or(""), app_id, None),
    ))
}

fn end_form(
    state: &AppState,
    session: &ConsoleSession,
    meeting_id: &str,
    app_id: Option<&str>,
    problem: Option<&str>,
) -> Markup {
    let apps = state.realtimekit.apps();
    html! {
        @if let Some(problem) = problem { p.error role="alert" { (problem) } }
        form.card method="post" action="/console/meetings/end" {
            (views::csrf_field(session))
            label for="meeting_id" { "Meeting id" }
            input #meeting_id type="text" name="meeting_id" value=(meeting_id) required;
            // Which app's API ends it: asked only when there is a choice.
            @if apps.len() > 1 {
                label for="app_id" { "App" }
                select #app_id name="app_id" required {
                    option value="" { "Choose the meeting's app" }
                    @for app in apps.iter() {
                        option value=(app.app_id) selected[app_id == Some(app.app_id.as_str())] {
                            (app.label()) @if app.name.is_some() { " (" (app.app_id) ")" }
                        }
                    }
                }
            }
            label.check { input type="checkbox" name="disable" value="true"; " Also disable the meeting, so nobody can rejoin or start a new session" }
            label.check { input type="checkbox" name="confirm" value="true" required; " I understand that everyone in the meeting is removed now" }
            button.danger type="submit" { "End the session" }
        }
    }
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    meeting_id: String,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    disable: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn end(
    State(state): State<AppState>,
    session: ConsoleSession,
    Form(form): Form<EndForm>,
) -> Result<Response, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    session.check_csrf(&form.csrf).map_err(fail)?;
    session.check_operate().map_err(fail)?;
    let meeting_id = form.meeting_id.trim();
    let app_id = form.app_id.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let disable = form.disable.as_deref() == Some("true");
    let again = |status: StatusCode, problem: &str| {
        let body = end_form(&state, &session, meeting_id, app_id, Some(problem));
        (status, page("End a session", Some(&session), Section::Meetings, body)).into_response()
    };
    if form.confirm.as_deref() != Some("true") {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Tick the confirmation to end the session.",
        ));
    }
    if meeting_id.is_empty() {
        return Ok(again(StatusCode::BAD_REQUEST, "Give the meeting id."));
    }
    match end_one(&state, meeting_id, app_id, disable).await {
        Ok(ended) => {
            tracing::info!(token = %session.caller.token_name, meeting_id, app_id, disable, "console: ended a meeting's session");
            let body = html! {
                p.notice role="status" {
                    "The active session of meeting " code { (meeting_id) } " was ended: "
                    (ended.kicked_participants_count) " participants removed"
                    @if ended.disabled { ", and the meeting is disabled" } "."
                }
                p { "Its " code { "meeting.ended" } " webhook is recorded when RealtimeKit sends it: "
                    a href={ "/console/sessions?meeting_id=" (paths::query_value(meeting_id)) } { "the meeting's sessions" } "." }
            };
            Ok(page("Session ended", Some(&session), Section::Meetings, body).into_response())
        }
        Err(error) => {
            tracing::warn!(token = %session.caller.token_name, meeting_id, error = %error, "console: ending a meeting's session failed");
            let status = error.status();
            Ok(again(status, &error.to_string()))
        }
    }
}
