//! Follow-ups that need a hand: dead ones and failing ones (waiting after a failed attempt) with their last error,
//! and also those due or running; Retry one, or every one matching the filter.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::jobs::job_row;
use super::pager::{self, Paged};
use super::paths;
use super::session::ConsoleSession;
use super::views::{self, PageError, Section, notice, page};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::followups::retry_job;
use crate::http::params;
use crate::store::cursor::JobCursor;
use crate::store::followup_jobs::JobListStatus;
use crate::store::followup_lists::{self, JobFilter};
use crate::store::sessions;

/// The most jobs one press of "Retry all" brings back.
pub const RETRY_ALL_MAX: i64 = 1000;
/// The most groups of identical errors the list shows above its rows.
const ERROR_GROUPS: i64 = 5;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `state` is the name older links used.
    #[serde(alias = "state")]
    status: Option<String>,
    followup: Option<String>,
    session_id: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
}

/// The filter a list or a retry names: dead follow-ups unless it says otherwise.
struct Matching {
    status: JobListStatus,
    followup: Option<String>,
    session_id: Option<String>,
}

impl Matching {
    fn read(status: Option<String>, followup: Option<String>, session_id: Option<String>) -> Result<Self, ApiError> {
        let status = params::state("invalid_status", "status", status, JobListStatus::parse)?;
        Ok(Self {
            status: status.unwrap_or(JobListStatus::Dead),
            followup: params::id_filter("followup", followup)?,
            session_id: params::id_filter("session_id", session_id)?,
        })
    }

    fn filter(&self) -> JobFilter {
        JobFilter {
            status: Some(self.status),
            followup: self.followup.clone(),
            session_id: self.session_id.clone(),
        }
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("status", self.status.as_str().to_owned()),
            ("followup", self.followup.clone().unwrap_or_default()),
            ("session_id", self.session_id.clone().unwrap_or_default()),
        ]
    }

    fn hidden_fields(&self) -> Markup {
        html! { @for (name, value) in self.query() { input type="hidden" name=(name) value=(value); } }
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: ConsoleSession,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    let Paged { params, trail } = Paged::<ListParams>::from_query(raw.as_deref())
        .map_err(|r| fail(ApiError::invalid_query(&r, "status, followup, session_id, cursor")))?;
    let matching = Matching::read(params.status, params.followup, params.session_id).map_err(fail)?;
    let after_id = params::job_cursor(params.cursor.as_deref()).map_err(fail)?;
    let filter = matching.filter();
    let (jobs, next) = followup_lists::list(&state.db, &filter, after_id, params::DEFAULT_LIMIT)
        .await
        .map_err(|e| fail(e.into()))?;
    let errors = followup_lists::error_groups(&state.db, &filter, ERROR_GROUPS)
        .await
        .map_err(|e| fail(e.into()))?;
    let ids: Vec<&str> = jobs.iter().map(|job| job.session_id.as_str()).collect();
    let titles = sessions::titles(&state.db, &ids).await.map_err(|e| fail(e.into()))?;
    let title_of = |id: &str| {
        titles
            .iter()
            .find(|(s, _)| s == id)
            .and_then(|(_, title)| title.as_deref())
    };
    let names = state.ingest.jobs().names();
    let kept = matching.query();
    let status = matching.status;
    let body = html! {
        (notice(params.notice.as_deref()))
        details {
            summary { "Configured follow-ups (" (state.followups.len()) ")" }
            @if state.followups.is_empty() {
                p { "None: this deployment runs no follow-up." }
            } @else {
                div.scroll tabindex="0" { table {
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
            label { "Status"
                select name="status" {
                    @for s in JobListStatus::ALL { option value=(s.as_str()) selected[s == status] { (s.as_str()) } }
                }
            }
            label { "Follow-up"
                select name="followup" {
                    option value="" { "any" }
                    @for name in &names { option value=(name) selected[matching.followup.as_deref() == Some(name.as_str())] { (name) } }
                }
            }
            label { "Session id" input type="search" name="session_id" value=(matching.session_id.as_deref().unwrap_or("")); }
            button type="submit" { "Show" }
            a href="/console/followups" { "Clear" }
        }
        @if jobs.is_empty() {
            p.ok { "No " (status.as_str()) " follow-up matches." }
        } @else {
            @if !errors.is_empty() {
                section.errors {
                    h2 { "Their errors" }
                    ul {
                        @for (error, count) in &errors {
                            li { strong { (count) " ×" } " " span.error-text { (error) } }
                        }
                    }
                }
            }
            @if status.retryable() && session.can_operate() {
                p { a.button href=(paths::list_href("/console/followups/retry", &kept)) { "Retry all matching…" } }
            }
            div.scroll tabindex="0" { table {
                thead { tr {
                    th { "Session" } th { "Job" } th { "Follow-up" } th { "Status" } th { "Attempts" }
                    th { "Next run / finished" } th { "Last error" } th { span.visually-hidden { "Action" } }
                } }
                tbody {
                    @for job in &jobs { (job_row(&session, job, Some(title_of(&job.session_id)))) }
                }
            } }
            (pager::links("/console/followups", &kept, params.cursor.as_deref(), &trail, next.map(JobCursor::encode).as_deref()))
        }
    };
    Ok(page("Follow-ups", Some(&session), Section::Followups, body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmParams {
    #[serde(alias = "state")]
    status: Option<String>,
    followup: Option<String>,
    session_id: Option<String>,
}

/// Before "Retry all matching": how many it brings back, and a button that does it (a GET changes nothing).
pub async fn confirm_retry_matching(
    State(state): State<AppState>,
    session: ConsoleSession,
    params: Result<Query<ConfirmParams>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let fail = |e: ApiError| PageError::new(e, &session);
    let Query(params) = params.map_err(|r| fail(ApiError::invalid_query(&r, "status, followup, session_id")))?;
    session.check_operate().map_err(fail)?;
    let matching = Matching::read(params.status, params.followup, params.session_id).map_err(fail)?;
    let count = followup_lists::count_retryable(&state.db, &matching.filter(), RETRY_ALL_MAX)
        .await
        .map_err(|e| fail(e.into()))?;
    let back = paths::list_href("/console/followups", &matching.query());
    let body = html! {
        @if count == 0 {
            p.ok { "No " (matching.status.as_str()) " follow-up matches any more." }
            p { a href=(back) { "Back to the list" } }
        } @else {
            form.card method="post" action="/console/followups/retry" {
                (views::csrf_field(&session))
                (matching.hidden_fields())
                p {
                    "Retry " strong { (count) @if count == RETRY_ALL_MAX { " (the most one press retries)" } }
                    " " (matching.status.as_str()) " follow-up" @if count != 1 { "s" }
                    @if let Some(name) = &matching.followup { " of " code { (name) } }
                    @if let Some(id) = &matching.session_id { " of session " code { (id) } }
                    "? Each runs again now."
                }
                button type="submit" { "Retry " (count) }
                " " a href=(back) { "Cancel" }
            }
        }
    };
    Ok(page("Retry follow-ups", Some(&session), Section::Followups, body))
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, alias = "state")]
    status: Option<String>,
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
    let matching = Matching::read(form.status, form.followup, form.session_id).map_err(fail)?;
    if !matching.status.retryable() {
        return Err(fail(ApiError::bad_request(
            "invalid_parameter",
            "only dead, failing, due or queued follow-ups can be retried",
        )));
    }
    let retried = followup_lists::retry_matching(&state.db, &matching.filter(), RETRY_ALL_MAX)
        .await
        .map_err(|e| fail(e.into()))?;
    let status = matching.status.as_str();
    tracing::info!(token = %session.caller.token_name, retried, status, "console: retried follow-ups");
    let text = views::Notice::JobsRetried(u32::try_from(retried).unwrap_or(u32::MAX)).code();
    // Back to the same follow-ups, now queued (due, until their attempt).
    let mut back = Matching {
        status: JobListStatus::Queued,
        ..matching
    }
    .query();
    back.push(("notice", text));
    Ok(Redirect::to(&paths::list_href("/console/followups", &back)).into_response())
}
