//! `GET /followups` and `POST /followups/{id}/retry`: what the follow-up queue holds, and bringing a job back.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::params::{self, Page};
use crate::store::followup_jobs::{self, Job, JobFilter, JobStatus};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `queued`, `running`, `succeeded` or `dead`.
    #[param(value_type = Option<JobStatus>)]
    status: Option<String>,
    /// Only this session's jobs.
    session_id: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/followups", tag = "followups", params(ListParams),
    responses(
        (status = 200, description = "A page of follow-up jobs, newest first", body = Page<Job>),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page<Job>>, ApiError> {
    let Query(params) =
        params.map_err(|rejection| ApiError::invalid_query(&rejection, "status, session_id, limit, cursor"))?;
    let status = params::state("invalid_status", "status", params.status, JobStatus::parse)?;
    let limit = params::limit(params.limit.as_deref())?;
    let after_id = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned as next_cursor")
        })?),
    };
    let filter = JobFilter {
        status,
        session_id: params::id_filter("session_id", params.session_id)?,
    };
    let (data, next) = followup_jobs::list(&state.db, &filter, after_id, limit).await?;
    Ok(Json(Page {
        data,
        next_cursor: next.map(|id| id.to_string()),
    }))
}

#[utoipa::path(post, path = "/followups/{id}/retry", tag = "followups",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job, queued again", body = Job),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is running or succeeded", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no follow-up job {id:?}")))?;
    followup_jobs::retry(&state.db, id)
        .await
        .map(Json)
        .map_err(ApiError::from)
}
