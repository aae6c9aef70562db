//! `GET /sessions` and `GET /sessions/{session_id}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::error::ApiError;
use super::error::ErrorBody;
use super::params::{self, ListFailures, Page};
use super::state::AppState;
use crate::domain::live_session::SessionStatus;
use crate::followups::{Report, render_report_html};
use crate::store::artifacts::{self, SessionArtifacts};
use crate::store::attendance::{self, Attendee};
use crate::store::followup_jobs::{self, Job};
use crate::store::live_sessions::{self, LiveFilter, LiveSession};
use crate::store::livestreams::{self, Livestream};
use crate::store::reports;
use crate::store::sessions::{self, ListFilter, Session};

/// The query string as sent; validated into a filter, a cursor and a limit with a clear message per mistake.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `ended` (the default): sessions that ended, newest ended first. `live`: sessions that started
    /// (`meeting.started`) and have not ended, newest started first, each with how many peers are in it now.
    #[param(value_type = Option<SessionStatus>)]
    pub(crate) status: Option<String>,
    /// With `status=live`: `true`, only stale sessions (live past `reconcile.stale_live_hours`, and RealtimeKit did
    /// not say they ended); `false`, only the others.
    #[param(value_type = Option<bool>)]
    pub(crate) stale: Option<String>,
    /// Only this meeting's sessions.
    pub(crate) meeting_id: Option<String>,
    /// Only this organization's sessions.
    pub(crate) organization_id: Option<String>,
    /// Only this app's sessions (the app id, as configured; the same value as `organization_id`).
    pub(crate) app_id: Option<String>,
    /// Only sessions that ended for this reason, e.g. `HOST_ENDED_MEETING`.
    pub(crate) reason: Option<String>,
    /// Only sessions whose meeting title contains each of these words (separated by spaces), whatever their case:
    /// `board review` finds "Q3 Board Review". At most 8 words and 200 bytes.
    pub(crate) title: Option<String>,
    /// Sessions that ended at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) ended_after: Option<String>,
    /// Sessions that ended before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) ended_before: Option<String>,
    /// `true`: only sessions with an announced recording; `false`: only those without.
    #[param(value_type = Option<bool>)]
    pub(crate) has_recording: Option<String>,
    /// `true`: only sessions with an announced transcript; `false`: only those without.
    #[param(value_type = Option<bool>)]
    pub(crate) has_transcript: Option<String>,
    /// `true`: only sessions with an announced summary; `false`: only those without.
    #[param(value_type = Option<bool>)]
    pub(crate) has_summary: Option<String>,
    /// `true`: only sessions with an announced chat export; `false`: only those without.
    #[param(value_type = Option<bool>)]
    pub(crate) has_chat: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    pub(crate) limit: Option<String>,
    /// `next_cursor` from the previous page.
    pub(crate) cursor: Option<String>,
}

/// A session of a listing: ended ones by default, live ones with `status=live`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ListedSession {
    Ended(Session),
    Live(LiveSession),
}

/// A page of one kind, as the listing's items.
fn listed<T>(page: Page<T>, kind: fn(T) -> ListedSession) -> Page<ListedSession> {
    Page {
        data: page.data.into_iter().map(kind).collect(),
        next_cursor: page.next_cursor,
    }
}

#[utoipa::path(get, path = "/sessions", operation_id = "list_sessions", tag = "sessions", params(ListParams),
    responses(
        (status = 200, description = "A page of sessions: newest ended first, or with `status=live` newest started \
            first", body = Page<ListedSession>),
        ListFailures,
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page<ListedSession>>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::invalid_query(
            &rejection,
            "status, stale, meeting_id, organization_id, app_id, reason, title, ended_after, ended_before, has_recording, \
             has_transcript, has_summary, has_chat, limit, cursor",
        )
    })?;
    let status = params::state("invalid_status", "status", params.status.clone(), SessionStatus::parse)?;
    Ok(Json(match status.unwrap_or(SessionStatus::Ended) {
        SessionStatus::Ended => listed(list_page(&state.db, params).await?, ListedSession::Ended),
        SessionStatus::Live => listed(live_page(&state.db, params).await?, ListedSession::Live),
    }))
}

/// A page of live sessions for these parameters; a filter that only an ended session can match is a 400.
pub(crate) async fn live_page(db: &PgPool, params: ListParams) -> Result<Page<LiveSession>, ApiError> {
    let ended_only = [
        ("reason", &params.reason),
        ("ended_after", &params.ended_after),
        ("ended_before", &params.ended_before),
        ("has_recording", &params.has_recording),
        ("has_transcript", &params.has_transcript),
        ("has_summary", &params.has_summary),
        ("has_chat", &params.has_chat),
    ];
    if let Some((name, _)) = ended_only
        .iter()
        .find(|(_, value)| value.as_deref().is_some_and(|v| !v.is_empty()))
    {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} filters ended sessions; status=live lists sessions that have not ended"),
        ));
    }
    let limit = params::limit(params.limit.as_deref())?;
    let cursor = params::cursor(params.cursor.as_deref())?;
    let filter = LiveFilter {
        meeting_id: params::id_filter("meeting_id", params.meeting_id)?,
        organization_id: params::id_filter("organization_id", params.organization_id)?,
        app_id: params::id_filter("app_id", params.app_id)?,
        stale: params::flag("stale", params.stale)?,
        title_words: params::title_words("title", params.title)?,
    };
    let page = live_sessions::list(db, &filter, cursor.as_ref(), limit).await?;
    Ok(Page {
        data: page.sessions,
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    })
}

/// A page of ended sessions for these parameters, checked as the API checks them (the CLI lists through it too).
pub(crate) async fn list_page(db: &PgPool, params: ListParams) -> Result<Page<Session>, ApiError> {
    if params.stale.as_deref().is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "stale filters live sessions: add status=live",
        ));
    }
    let limit = params::limit(params.limit.as_deref())?;
    let cursor = params::cursor(params.cursor.as_deref())?;
    let filter = ListFilter {
        meeting_id: params::id_filter("meeting_id", params.meeting_id)?,
        organization_id: params::id_filter("organization_id", params.organization_id)?,
        app_id: params::id_filter("app_id", params.app_id)?,
        reason: params::id_filter("reason", params.reason)?,
        ended_after: params::timestamp("ended_after", params.ended_after)?,
        ended_before: params::timestamp("ended_before", params.ended_before)?,
        has_recording: params::flag("has_recording", params.has_recording)?,
        has_transcript: params::flag("has_transcript", params.has_transcript)?,
        has_summary: params::flag("has_summary", params.has_summary)?,
        has_chat: params::flag("has_chat", params.has_chat)?,
        title_words: params::title_words("title", params.title)?,
    };
    let page = sessions::list(db, &filter, cursor.as_ref(), limit).await?;
    Ok(Page {
        data: page.sessions,
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    })
}

/// One session: its record, what it left behind (recordings, transcript, summary, chat) and its follow-ups.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionWithFollowups {
    /// Always `ended` here.
    pub status: SessionStatus,
    #[serde(flatten)]
    pub session: Session,
    /// Each artifact's archive state; download an archived one at `/sessions/{id}/artifacts/...`.
    pub artifacts: SessionArtifacts,
    /// Who attended, from `meeting.participantJoined` and `meeting.participantLeft`: one entry per peer (a person
    /// who rejoins is a new entry), earliest join first.
    pub participants: Vec<Attendee>,
    /// Its livestreams, from `livestreaming.statusUpdate` (never their stream keys).
    pub livestreams: Vec<Livestream>,
    pub followups: Vec<Job>,
}

/// A session that started and has not ended: who is in it now, who came and went, and what it has announced.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveSessionWithAttendance {
    /// Always `live` here.
    pub status: SessionStatus,
    #[serde(flatten)]
    pub session: LiveSession,
    /// The peers in it now: joined, and not left.
    pub in_session_now: Vec<Attendee>,
    /// Every peer so far, earliest join first.
    pub participants: Vec<Attendee>,
    pub artifacts: SessionArtifacts,
    pub livestreams: Vec<Livestream>,
}

/// An ended session with its follow-ups, or a live one with who is in it (`status` says which).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SessionDetails {
    Ended(Box<SessionWithFollowups>),
    Live(Box<LiveSessionWithAttendance>),
}

#[utoipa::path(get, path = "/sessions/{session_id}", operation_id = "get_session", tag = "sessions",
    params(("session_id" = String, Path, description = "The RealtimeKit session id")),
    responses(
        (status = 200, description = "The session: once ended, its artifacts and its follow-ups; while live, who is \
            in it now", body = SessionDetails),
        (status = 400, description = "The session id cannot be one (NUL characters, too long)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such session has been recorded", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<SessionDetails>, ApiError> {
    Ok(Json(details(&state.db, &session_id).await?))
}

/// One session as it stands: ended, with its follow-ups; live, with who is in it; a 404 when neither (the console
/// and the CLI show a session through it too).
pub(crate) async fn details(db: &PgPool, session_id: &str) -> Result<SessionDetails, ApiError> {
    match with_followups(db, session_id).await {
        Ok(ended) => Ok(SessionDetails::Ended(Box::new(ended))),
        Err(not_ended) if not_ended.status() == StatusCode::NOT_FOUND => {
            match live_with_attendance(db, session_id).await? {
                Some(live) => Ok(SessionDetails::Live(Box::new(live))),
                None => Err(not_ended),
            }
        }
        Err(error) => Err(error),
    }
}

/// The session while it is live, with its attendance.
async fn live_with_attendance(db: &PgPool, session_id: &str) -> Result<Option<LiveSessionWithAttendance>, ApiError> {
    let Some(session) = live_sessions::get(db, session_id).await? else {
        return Ok(None);
    };
    let participants = attendance::for_session(db, session_id).await?;
    Ok(Some(LiveSessionWithAttendance {
        status: SessionStatus::Live,
        in_session_now: participants.iter().filter(|p| p.left_at.is_none()).cloned().collect(),
        participants,
        artifacts: artifacts::for_session(db, session_id).await?,
        livestreams: livestreams::for_session(db, session_id).await?,
        session,
    }))
}

/// One recorded session and its follow-ups, or a 404 (the CLI shows a session through it too).
pub(crate) async fn with_followups(db: &PgPool, session_id: &str) -> Result<SessionWithFollowups, ApiError> {
    params::path_id("session_id", session_id)?;
    let session = sessions::get(db, session_id)
        .await?
        .ok_or_else(|| session_not_found(session_id))?;
    let artifacts = artifacts::for_session(db, session_id).await?;
    let participants = attendance::for_session(db, session_id).await?;
    let livestreams = livestreams::for_session(db, session_id).await?;
    let followups = followup_jobs::for_session(db, session_id).await?;
    Ok(SessionWithFollowups {
        status: SessionStatus::Ended,
        session,
        artifacts,
        participants,
        livestreams,
        followups,
    })
}

pub(crate) fn session_not_found(session_id: &str) -> ApiError {
    ApiError::not_found(format!("no session with id {session_id:?} has been recorded"))
}

/// `GET /sessions/{id}/report`: JSON, or a readable HTML page when the client asks for `text/html`.
#[utoipa::path(get, path = "/sessions/{session_id}/report", operation_id = "get_session_report", tag = "sessions",
    params(("session_id" = String, Path, description = "The RealtimeKit session id")),
    responses(
        (status = 200, description = "The session report (HTML when `Accept` prefers `text/html`)",
            content((Report = "application/json"), (String = "text/html"))),
        (status = 400, description = "The session id cannot be one (NUL characters, too long)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such session, or no report for it yet", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn report(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    params::path_id("session_id", &session_id)?;
    let report = reports::get(&state.db, &session_id).await?;
    let Some(report) = report else {
        let known = sessions::get(&state.db, &session_id).await?;
        return Err(match known {
            None => session_not_found(&session_id),
            Some(_) => ApiError::not_found(format!(
                "no report for session {session_id:?} yet: it is made by a `report` follow-up (see GET /sessions/{session_id})"
            )),
        });
    };
    if prefers_html(&headers) {
        return Ok((super::error::UNTRUSTED_CONTENT, Html(render_report_html(&report))).into_response());
    }
    Ok(Json(report).into_response())
}

/// True when `Accept` ranks `text/html` above `application/json` (a browser, or `curl -H 'Accept: text/html'`).
fn prefers_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match (accept.find("text/html"), accept.find("application/json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        _ => false,
    }
}
