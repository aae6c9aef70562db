//! `GET /followups` and `POST /followups/{id}/retry`: what the follow-up queue holds, and bringing a job back.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::sessions::{DEFAULT_LIMIT, MAX_LIMIT, parse_limit};
use crate::store::followup_jobs::{self, Job, JobFilter, RetryError};

const STATUSES: [&str; 4] = ["queued", "running", "succeeded", "dead"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    session_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JobPage {
    pub data: Vec<Job>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<JobPage>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "{}; the parameters are status, session_id, limit, cursor",
                rejection.body_text()
            ),
        )
    })?;
    let status = params.status.filter(|s| !s.is_empty());
    if let Some(status) = &status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_status",
                format!("status must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after_id = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned as next_cursor")
        })?),
    };
    let filter = JobFilter {
        status,
        session_id: params.session_id.filter(|s| !s.is_empty()),
    };
    let (data, next) = followup_jobs::list(&state.db, &filter, after_id, limit)
        .await
        .map_err(ApiError::database)?;
    Ok(Json(JobPage {
        data,
        next_cursor: next.map(|id| id.to_string()),
    }))
}

pub async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no follow-up job {id:?}")))?;
    followup_jobs::retry(&state.db, id)
        .await
        .map(Json)
        .map_err(|error| match error {
            RetryError::NotFound(_) => ApiError::not_found(error.to_string()),
            RetryError::NotRetryable { .. } => ApiError::new(StatusCode::CONFLICT, "not_retryable", error.to_string()),
            RetryError::Database(db) => ApiError::database(db),
        })
}
