//! Reading query parameters and path ids, with the same rules and words on every endpoint. Anything Postgres could
//! not take (NUL characters, an id longer than any recorded one) is a 400 here, never a 500 from the database.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};

use super::error::ApiError;
use crate::domain::limits::MAX_ID_BYTES;
use crate::domain::names::UnknownValue;
use crate::store::cursor::Cursor;

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 500;

/// One page of a list endpoint: its items, and the cursor of the next page (absent on the last one).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass it as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What a list endpoint can answer besides its page, for the OpenAPI document: each an [`super::error::ErrorBody`].
pub struct ListFailures;

impl utoipa::IntoResponses for ListFailures {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let failures = [
            ("400", "A parameter is invalid"),
            ("401", "No valid bearer token"),
            ("503", "The database is unavailable; try again"),
        ];
        let error_body = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
        failures
            .into_iter()
            .map(|(status, description)| {
                let response = ResponseBuilder::new()
                    .description(description)
                    .content("application/json", error_body())
                    .build();
                (status.to_owned(), response.into())
            })
            .collect()
    }
}

/// A page size from 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn limit(text: Option<&str>) -> Result<u16, ApiError> {
    match text.map(str::trim) {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// A filter on a state (`status`, `outcome`): absent when empty; else one of its names, or a 400 `code` that lists
/// them.
pub fn state<T>(
    code: &'static str,
    name: &str,
    value: Option<String>,
    parse: fn(&str) -> Result<T, UnknownValue>,
) -> Result<Option<T>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse(text)
            .map(Some)
            .map_err(|unknown| ApiError::bad_request(code, format!("{name}: {unknown}"))),
    }
}

/// An id used as a filter: absent when empty; no NUL, at most [`MAX_ID_BYTES`] bytes.
pub fn id_filter(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) => check_id(name, &value).map(|()| Some(value)),
    }
}

/// The most words a title search takes, and the longest search.
pub const MAX_TITLE_WORDS: usize = 8;
pub const MAX_TITLE_BYTES: usize = 200;

/// A title search: its words (split on white space), each to be found in the title whatever its case. Absent or
/// blank: no words.
pub fn title_words(name: &str, value: Option<String>) -> Result<Vec<String>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} must not contain NUL characters"),
        ));
    }
    if value.len() > MAX_TITLE_BYTES {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} is longer than {MAX_TITLE_BYTES} bytes"),
        ));
    }
    let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if words.len() > MAX_TITLE_WORDS {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} has more than {MAX_TITLE_WORDS} words"),
        ));
    }
    Ok(words)
}

/// An id from the path: no NUL, at most [`MAX_ID_BYTES`] bytes.
pub fn path_id(name: &str, value: &str) -> Result<(), ApiError> {
    check_id(name, value)
}

fn check_id(name: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} must not contain NUL characters"),
        ));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} is longer than any recorded id ({MAX_ID_BYTES} bytes)"),
        ));
    }
    // It would leave its path segment in the calls made with it (URLs resolve dot segments, encoded or not).
    if matches!(value, "." | "..") {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} cannot be {value:?}"),
        ));
    }
    Ok(())
}

/// `true` or `false`, absent when empty.
pub fn flag(name: &str, value: Option<String>) -> Result<Option<bool>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} must be true or false"),
        )),
    }
}

/// An RFC 3339 instant, absent when empty.
pub fn timestamp(name: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
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

/// A `next_cursor` this API handed out, absent when empty.
/// A follow-up job listing's cursor: only one this API handed out as `next_cursor`.
pub fn job_cursor(value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(text) => crate::store::cursor::JobCursor::decode(text).map(Some).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned as next_cursor")
        }),
    }
}

pub fn cursor(value: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    match value.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(text) => Cursor::decode(text).map(Some).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned as next_cursor")
        }),
    }
}
