//! `GET /sessions` and `GET /sessions/{session_id}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::store::sessions::{self, Cursor, ListFilter, Session};

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 500;

/// The query string as sent; validated into a filter, a cursor and a limit with a clear message per mistake.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    meeting_id: Option<String>,
    organization_id: Option<String>,
    reason: Option<String>,
    ended_after: Option<String>,
    ended_before: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SessionPage {
    pub data: Vec<Session>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<SessionPage>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "{}; the parameters are meeting_id, organization_id, reason, ended_after, ended_before, limit, cursor",
                rejection.body_text()
            ),
        )
    })?;
    let limit = match params.limit.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let cursor = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "cursor is not one this API returned as next_cursor",
            )
        })?),
    };
    let filter = ListFilter {
        meeting_id: non_empty(params.meeting_id),
        organization_id: non_empty(params.organization_id),
        reason: non_empty(params.reason),
        ended_after: rfc3339("ended_after", params.ended_after)?,
        ended_before: rfc3339("ended_before", params.ended_before)?,
    };

    let page = sessions::list(&state.db, &filter, cursor.as_ref(), limit)
        .await
        .map_err(ApiError::database)?;
    Ok(Json(SessionPage {
        data: page.sessions,
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    }))
}

pub async fn get_one(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    sessions::get(&state.db, &session_id)
        .await
        .map_err(ApiError::database)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no session with id {session_id:?} has been recorded"
            ))
        })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn rfc3339(name: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_timestamp",
                    format!("{name} must be an RFC 3339 timestamp such as 2026-06-03T10:30:00Z"),
                )
            }),
    }
}
