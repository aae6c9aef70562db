//! Follow-ups that need a hand: dead ones and failing ones (waiting after a failed attempt) with their last error,
//! and also those due or running; Retry one, or every one matching the filter.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::paths;
use super::session::ConsoleSession;
use super::sessions::job_row;
use super::views::{self, PageError, Section, notice, page};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::followups::retry_job;
use crate::http::params;
use crate::store::cursor::JobCursor;
use crate::store::followup_jobs::{self, JobFilter, JobStatus};

/// The most jobs one press of "Retry all" brings back.
pub const RETRY_ALL_MAX: i64 = 1000;

/// Which jobs the page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum View {
    #[default]
    Dead,
    Failing,
    Due,
    Running,
    Succeeded,
}

impl View {
    const ALL: [Self; 5] = [Self::Dead, Self::Failing, Self::Due, Self::Running, Self::Succeeded];

    fn as_str(self) -> &'static str {
        match self {
            Self::Dead => "dead",
            Self::Failing => "failing",
            Self::Due => "due",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
        }
    }

    fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(Self::default()),
            Some(text) => Self::ALL.into_iter().find(|v| v.as_str() == text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_parameter",
                    "state is one of dead, failing, due, running, succeeded",
                )
            }),
        }
    }

    fn filter(self, followup: Option<String>, session_id: Option<String>) -> JobFilter {
        let mut filter = JobFilter {
            followup,
            session_id,
            ..JobFilter::default()
        };
        match self {
            Self::Dead => filter.status = Some(JobStatus::Dead),
            Self::Failing => filter.failing = true,
            Self::Due => filter.due = true,
            Self::Running => filter.status = Some(JobStatus::Running),
            Self::Succeeded => filter.status = Some(JobStatus::Succeeded),
        }
        filter
    }

    fn retryable(self) -> bool {
        matches!(self, Self::Dead | Self::Failing | Self::Due)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    state: Option<String>,
    followup: Option<String>,
    session_id: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: ConsoleSession,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    let Query(params) = params.map_err(|r| fail(ApiError::invalid_query(&r, "state, followup, session_id, cursor")))?;
    let view = View::parse(params.state.as_deref()).map_err(fail)?;
    let followup = params::id_filter("followup", params.followup.clone()).map_err(fail)?;
    let session_id = params::id_filter("session_id", params.session_id.clone()).map_err(fail)?;
    let after_id = params::job_cursor(params.cursor.as_deref()).map_err(fail)?;
    let filter = view.filter(followup.clone(), session_id.clone());
    let (jobs, next) = followup_jobs::list(&state.db, &filter, after_id, params::DEFAULT_LIMIT)
        .await
        .map_err(|e| fail(e.into()))?;
    let names = state.ingest.jobs().names();
    let kept = vec![
        ("state", view.as_str().to_owned()),
        ("followup", followup.clone().unwrap_or_default()),
        ("session_id", session_id.clone().unwrap_or_default()),
    ];
    let body = html! {
        (notice(params.notice.as_deref()))
        details {
            summary { "Configured follow-ups (" (state.followups.len()) ")" }
            @if state.followups.is_empty() {
                p { "None: this deployment runs no follow-up." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Name" } th { "Kind" } th { "Runs on" } th { "Target" } } }
                    tbody {
                        @for f in &state.followups {
                            tr {
                                td { (f.name) }
                                td { (f.kind.as_str()) }
                                td { (f.on.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
                                td { code.small { (f.target) } }
                            }
                        }
                    }
                } }
            }
        }
        form.filters method="get" action="/console/followups" {
            label { "State"
                select name="state" {
                    @for v in View::ALL { option value=(v.as_str()) selected[v == view] { (v.as_str()) } }
                }
            }
            label { "Follow-up"
                select name="followup" {
                    option value="" { "any" }
                    @for name in &names { option value=(name) selected[followup.as_deref() == Some(name.as_str())] { (name) } }
                }
            }
            label { "Session id" input type="search" name="session_id" value=(session_id.as_deref().unwrap_or("")); }
            button type="submit" { "Show" }
        }
        @if jobs.is_empty() {
            p.ok { "No " (view.as_str()) " follow-up matches." }
        } @else {
            @if view.retryable() && session.can_operate() {
                form.inline method="post" action="/console/followups/retry" {
                    (views::csrf_field(&session))
                    input type="hidden" name="state" value=(view.as_str());
                    input type="hidden" name="followup" value=(followup.as_deref().unwrap_or(""));
                    input type="hidden" name="session_id" value=(session_id.as_deref().unwrap_or(""));
                    button type="submit" { "Retry all matching (up to " (RETRY_ALL_MAX) ")" }
                }
            }
            div.scroll { table {
                thead { tr { th { "Session" } th { "Follow-up" } th { "Status" } th { "Attempts" } th { "Next run / finished" } th { "Last error" } th { "" } } }
                tbody {
                    @for job in &jobs { (job_row(&session, job, true)) }
                }
            } }
            (views::next_page("/console/followups", &kept, next.map(JobCursor::encode).as_deref()))
        }
    };
    Ok(page("Follow-ups", Some(&session), Section::Followups, body))
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    followup: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
}

/// Retry one job, then back to where the button was.
pub async fn retry_one(
    State(state): State<AppState>,
    session: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<RetryForm>,
) -> Result<Response, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    session.check_csrf(&form.csrf).map_err(fail)?;
    session.check_operate().map_err(fail)?;
    let job = retry_job(&state.db, &id).await.map_err(fail)?;
    tracing::info!(token = %session.caller.token_name, job = job.id, followup = %job.followup, "console: retried a follow-up");
    Ok(Redirect::to(&format!(
        "{}?notice={}",
        paths::session_href(&job.session_id),
        views::Notice::JobRetried.code()
    ))
    .into_response())
}

/// Retry every dead or waiting job that the filter matches (at most [`RETRY_ALL_MAX`]).
pub async fn retry_matching(
    State(state): State<AppState>,
    session: ConsoleSession,
    Form(form): Form<RetryForm>,
) -> Result<Response, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    session.check_csrf(&form.csrf).map_err(fail)?;
    session.check_operate().map_err(fail)?;
    let view = View::parse(form.state.as_deref()).map_err(fail)?;
    if !view.retryable() {
        return Err(fail(ApiError::bad_request(
            "invalid_parameter",
            "only dead, failing or due follow-ups can be retried",
        )));
    }
    let followup = params::id_filter("followup", form.followup).map_err(fail)?;
    let session_id = params::id_filter("session_id", form.session_id).map_err(fail)?;
    let filter = view.filter(followup.clone(), session_id.clone());
    let retried = followup_jobs::retry_matching(&state.db, &filter, RETRY_ALL_MAX)
        .await
        .map_err(|e| fail(e.into()))?;
    tracing::info!(token = %session.caller.token_name, retried, state = view.as_str(), "console: retried follow-ups");
    let text = views::Notice::JobsRetried(u32::try_from(retried).unwrap_or(u32::MAX)).code();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", View::Failing.as_str())
        .append_pair("followup", followup.as_deref().unwrap_or(""))
        .append_pair("session_id", session_id.as_deref().unwrap_or(""))
        .append_pair("notice", &text)
        .finish();
    Ok(Redirect::to(&format!("/console/followups?{query}")).into_response())
}
