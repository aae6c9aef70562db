//! `GET /sessions/{id}/artifacts/...`: the archived copy of a session's transcript, summary, chat or recording,
//! streamed from the archive store with its content type, length and SHA-256. `404` until it is archived.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::params;
use crate::domain::artifact::ArtifactKind;
use crate::store::artifacts::{self, ArtifactKey};

/// The archived transcript, summary or chat export.
#[utoipa::path(get, path = "/sessions/{session_id}/artifacts/{kind}", tag = "sessions",
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
    serve(&state, session_id, kind, String::new()).await
}

/// One archived recording.
#[utoipa::path(get, path = "/sessions/{session_id}/artifacts/recordings/{recording_id}", tag = "sessions",
    params(
        ("session_id" = String, Path, description = "The RealtimeKit session id"),
        ("recording_id" = String, Path, description = "The recording id (see `artifacts.recordings` in the session)"),
    ),
    responses(
        (status = 200, description = "The archived recording, streamed", content_type = "application/octet-stream"),
        (status = 400, description = "An id cannot be one (NUL characters, too long)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "Not archived (yet), or no such recording", body = ErrorBody),
        (status = 503, description = "The database or the archive store is unavailable; try again", body = ErrorBody),
    ))]
pub async fn download_recording(
    State(state): State<AppState>,
    Path((session_id, recording_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    params::path_id("recording_id", &recording_id)?;
    serve(&state, session_id, ArtifactKind::Recording, recording_id).await
}

async fn serve(
    state: &AppState,
    session_id: String,
    kind: ArtifactKind,
    artifact_id: String,
) -> Result<Response, ApiError> {
    params::path_id("session_id", &session_id)?;
    let key = ArtifactKey {
        session_id,
        kind,
        artifact_id,
    };
    let Some(store) = &state.archive else {
        return Err(ApiError::not_found("no archive store is configured (archive.url)"));
    };
    let Some(copy) = artifacts::archived_copy(&state.db, &key).await? else {
        return Err(ApiError::not_found(format!(
            "the {} is not archived (yet); GET /sessions/{} shows each artifact's state",
            kind.as_str(),
            key.session_id
        )));
    };
    let (size, stream) = store.read(&copy.object_key).await.map_err(|error| {
        let message = format!("the archive store did not give the {}; try again later", kind.as_str());
        ApiError::unavailable("archive_unavailable", message, Duration::from_secs(5)).caused_by(error.into())
    })?;
    // The object must be the one archived: another size means it was replaced or cut, and serving it under the
    // recorded length and ETag would break the download or hand out the wrong file.
    if u64::try_from(copy.archived_bytes).ok() != Some(size) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "archive_mismatch",
            format!(
                "the archived {} is {size} bytes in the store, not the {} recorded; it is not served",
                kind.as_str(),
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
        super::UNTRUSTED_CONTENT,
        headers,
        Body::from_stream(stream),
    )
        .into_response())
}
