//! `GET /followups` and `POST /followups/{id}/retry`: what the follow-up queue holds, and bringing a job back.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use sqlx::PgPool;

use super::error::{ApiError, ErrorBody};
use super::params::{self, ListFailures, Page};
use super::state::AppState;
use crate::store::cursor::JobCursor;
use crate::store::followup_jobs::{self, Job, JobListStatus};
use crate::store::followup_lists::{self, JobFilter};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `dead`, `failing` (queued after a failed attempt), `due` (queued and due now), `queued`, `running` or
    /// `succeeded`: the same words as the console and the CLI.
    #[param(value_type = Option<JobListStatus>)]
    pub(crate) status: Option<String>,
    /// Only this session's jobs.
    pub(crate) session_id: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    pub(crate) limit: Option<String>,
    /// `next_cursor` from the previous page.
    pub(crate) cursor: Option<String>,
}

#[utoipa::path(get, path = "/followups", operation_id = "list_followups", tag = "followups", params(ListParams),
    responses(
        (status = 200, description = "A page of follow-up jobs, newest first", body = Page<Job>),
        ListFailures,
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page<Job>>, ApiError> {
    let Query(params) =
        params.map_err(|rejection| ApiError::invalid_query(&rejection, "status, session_id, limit, cursor"))?;
    Ok(Json(list_page(&state.db, params).await?))
}

/// A page of follow-up jobs for these parameters, checked as the API checks them (the CLI lists through it too).
pub(crate) async fn list_page(db: &PgPool, params: ListParams) -> Result<Page<Job>, ApiError> {
    let status = params::state("invalid_status", "status", params.status, JobListStatus::parse)?;
    let limit = params::limit(params.limit.as_deref())?;
    let after_id = params::job_cursor(params.cursor.as_deref())?;
    let filter = JobFilter {
        status,
        session_id: params::id_filter("session_id", params.session_id)?,
        ..JobFilter::default()
    };
    let (data, next) = followup_lists::list(db, &filter, after_id, limit).await?;
    Ok(Page {
        data,
        next_cursor: next.map(JobCursor::encode),
    })
}

#[utoipa::path(post, path = "/followups/{id}/retry", operation_id = "retry_followup", tag = "followups",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job, queued again", body = Job),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is running or succeeded", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    Ok(Json(retry_job(&state.db, &id).await?))
}

/// Brings a dead job back, or makes a waiting one due now (the CLI retries through it too).
pub(crate) async fn retry_job(db: &PgPool, id: &str) -> Result<Job, ApiError> {
    let id: i64 = id
        .trim()
        .parse()
        .map_err(|_| ApiError::not_found(format!("no follow-up job {id:?}")))?;
    Ok(followup_jobs::retry(db, id).await?)
}
