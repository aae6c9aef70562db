//! `GET /sessions/{id}/artifacts/...`: the archived copy of a session's transcript, summary, chat or recording file,
//! streamed from the archive store with its content type, length and SHA-256. `404` until it is archived.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorBody};
use super::params;
use super::state::AppState;
use crate::domain::artifact::ArtifactKind;
use crate::domain::recording::ArtifactFile;
use crate::store::artifacts::{self, ArchivedCopy, ArtifactKey};

/// The archived transcript, summary or chat export.
#[utoipa::path(get, path = "/sessions/{session_id}/artifacts/{kind}", operation_id = "download_artifact", tag = "sessions",
    params(
        ("session_id" = String, Path, description = "The RealtimeKit session id"),
        ("kind" = String, Path, description = "`transcript`, `summary` or `chat`"),
    ),
    responses(
        (status = 200, description = "The archived file, streamed", content_type = "application/octet-stream"),
        (status = 400, description = "The session id cannot be one (NUL characters, too long)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "Not archived (yet), or no such artifact", body = ErrorBody),
        (status = 503, description = "The database or the archive store is unavailable; try again", body = ErrorBody),
    ))]
pub async fn download(
    State(state): State<AppState>,
    Path((session_id, kind)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = match ArtifactKind::try_from(kind) {
        Ok(ArtifactKind::Recording) | Err(_) => {
            return Err(ApiError::not_found(
                "an artifact is transcript, summary, chat, or recordings/{recording_id}",
            ));
        }
        Ok(kind) => kind,
    };
    params::path_id("session_id", &session_id)?;
    let key = ArtifactKey {
        session_id,
        kind,
        artifact_id: String::new(),
        file: ArtifactFile::Main,
    };
    let what = kind.as_str().to_owned();
    let copy = artifacts::archived_copy(&state.db, &key).await?;
    serve(&state, &key.session_id, &what, copy).await
}

/// One archived recording: its composite file, or its only file.
#[utoipa::path(get, path = "/sessions/{session_id}/artifacts/recordings/{recording_id}", tag = "sessions",
    params(
        ("session_id" = String, Path, description = "The RealtimeKit session id"),
        ("recording_id" = String, Path, description = "The recording id (see `artifacts.recordings` in the session)"),
    ),
    responses(
        (status = 200, description = "The archived composite file (or the recording's only file), streamed",
            content_type = "application/octet-stream"),
        (status = 400, description = "An id cannot be one (NUL characters, too long)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "Not archived (yet), or no such recording", body = ErrorBody),
        (status = 503, description = "The database or the archive store is unavailable; try again", body = ErrorBody),
    ))]
pub async fn download_recording(
    State(state): State<AppState>,
    Path((session_id, recording_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    params::path_id("session_id", &session_id)?;
    params::path_id("recording_id", &recording_id)?;
    let copy = artifacts::archived_recording(&state.db, &session_id, &recording_id).await?;
    serve(&state, &session_id, &format!("recording {recording_id}"), copy).await
}

/// One archived file of a recording: `composite`, `audio`, or a track's file name.
#[utoipa::path(get, path = "/sessions/{session_id}/artifacts/recordings/{recording_id}/files/{name}", tag = "sessions",
    params(
        ("session_id" = String, Path, description = "The RealtimeKit session id"),
        ("recording_id" = String, Path, description = "The recording id (see `artifacts.recordings` in the session)"),
        ("name" = String, Path, description = "The file's `name` in the recording's `files`"),
    ),
    responses(
        (status = 200, description = "The archived file, streamed", content_type = "application/octet-stream"),
        (status = 400, description = "An id cannot be one (NUL characters, too long)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "Not archived (yet), or no such file", body = ErrorBody),
        (status = 503, description = "The database or the archive store is unavailable; try again", body = ErrorBody),
    ))]
pub async fn download_recording_file(
    State(state): State<AppState>,
    Path((session_id, recording_id, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    params::path_id("session_id", &session_id)?;
    params::path_id("recording_id", &recording_id)?;
    params::path_id("name", &name)?;
    let key = ArtifactKey {
        session_id,
        kind: ArtifactKind::Recording,
        artifact_id: recording_id,
        file: ArtifactFile::from_name(&name),
    };
    let copy = artifacts::archived_copy(&state.db, &key).await?;
    let what = format!("file {name:?} of recording {}", key.artifact_id);
    serve(&state, &key.session_id, &what, copy).await
}

/// Streams an archived copy (`what` names it in errors), or says why it cannot.
async fn serve(
    state: &AppState,
    session_id: &str,
    what: &str,
    copy: Option<ArchivedCopy>,
) -> Result<Response, ApiError> {
    let Some(store) = &state.archive else {
        return Err(ApiError::not_found("no archive store is configured (archive.url)"));
    };
    let Some(copy) = copy else {
        return Err(ApiError::not_found(format!(
            "the {what} is not archived (yet); GET /sessions/{session_id} shows each artifact's state"
        )));
    };
    let (size, stream) = store.read(&copy.object_key).await.map_err(|error| {
        let message = format!("the archive store did not give the {what}; try again later");
        ApiError::unavailable("archive_unavailable", message, Duration::from_secs(5)).caused_by(error.into())
    })?;
    // The object must be the one archived: another size means it was replaced or cut, and serving it under the
    // recorded length and ETag would break the download or hand out the wrong file.
    if u64::try_from(copy.archived_bytes).ok() != Some(size) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "archive_mismatch",
            format!(
                "the archived {what} is {size} bytes in the store, not the {} recorded; it is not served",
                copy.archived_bytes
            ),
        ));
    }
    let name = copy.object_key.rsplit('/').next().unwrap_or_default().to_owned();
    let headers = [
        (
            header::CONTENT_TYPE,
            copy.content_type
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
        ),
        (header::CONTENT_LENGTH, copy.archived_bytes.to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        (header::ETAG, format!("\"{}\"", copy.sha256)),
    ];
    Ok((
        StatusCode::OK,
        super::error::UNTRUSTED_CONTENT,
        headers,
        Body::from_stream(stream),
    )
        .into_response())
}
