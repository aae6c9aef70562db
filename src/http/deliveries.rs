//! `GET /deliveries`, `GET /deliveries/{delivery_id}` and `POST /deliveries/{delivery_id}/replay`: what arrived,
//! as it arrived, and classifying a kept delivery again (after a parser fix, say).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::error::{ApiError, ErrorBody};
use super::params::{self, ListFailures, Page};
use super::state::AppState;
use crate::domain::Apps;
use crate::store::deliveries::{self, DeliveryFilter, DeliverySummary, Outcome, Replayed, StoredBody, StoredDelivery};
use crate::store::job_specs::JobSpecs;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only deliveries with this outcome.
    #[param(value_type = Option<Outcome>)]
    pub(crate) outcome: Option<String>,
    /// Only this session's deliveries.
    pub(crate) session_id: Option<String>,
    /// Deliveries received at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) received_after: Option<String>,
    /// Deliveries received before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub(crate) received_before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    pub(crate) limit: Option<String>,
    /// `next_cursor` from the previous page.
    pub(crate) cursor: Option<String>,
}

#[utoipa::path(get, path = "/deliveries", operation_id = "list_deliveries", tag = "deliveries", params(ListParams),
    responses(
        (status = 200, description = "A page of deliveries, newest received first", body = Page<DeliverySummary>),
        ListFailures,
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page<DeliverySummary>>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::invalid_query(
            &rejection,
            "outcome, session_id, received_after, received_before, limit, cursor",
        )
    })?;
    Ok(Json(list_page(&state.db, params).await?))
}

/// A page of deliveries for these parameters, checked as the API checks them (the CLI lists through it too).
pub(crate) async fn list_page(db: &PgPool, params: ListParams) -> Result<Page<DeliverySummary>, ApiError> {
    let filter = DeliveryFilter {
        outcome: params::state("invalid_outcome", "outcome", params.outcome, Outcome::parse)?,
        session_id: params::id_filter("session_id", params.session_id)?,
        received_after: params::timestamp("received_after", params.received_after)?,
        received_before: params::timestamp("received_before", params.received_before)?,
    };
    let limit = params::limit(params.limit.as_deref())?;
    let cursor = params::cursor(params.cursor.as_deref())?;
    let page = deliveries::list(db, &filter, cursor.as_ref(), limit).await?;
    Ok(Page {
        data: page.deliveries,
        next_cursor: page.next_cursor.map(|c| c.encode()),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowParams {
    /// `true`: answer the body itself (the exact bytes received, for a delivery kept byte for byte).
    #[param(value_type = Option<bool>)]
    raw: Option<String>,
}

/// A delivery with its body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// `bytes`: kept byte for byte, as every delivery is now; `json`: a delivery recorded by an older version, kept
    /// as `jsonb`, whose text Postgres normalised (whitespace, key order).
    pub body_kept_as: &'static str,
    /// The body as text, when it is UTF-8; `?raw=true` answers the bytes themselves.
    pub body_text: Option<String>,
}

#[utoipa::path(get, path = "/deliveries/{delivery_id}", operation_id = "get_delivery", tag = "deliveries",
    params(("delivery_id" = String, Path, description = "The delivery id (`rtk-uuid`, or `sha256:...`)"), ShowParams),
    responses(
        (status = 200, description = "The delivery, its outcome and its body; with `?raw=true` the body alone",
            content((DeliveryDetail = "application/json"), (String = "application/octet-stream"))),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such delivery has been recorded (or it is past retention)", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
    query: Result<Query<ShowParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    params::path_id("delivery_id", &delivery_id)?;
    let Query(query) = query.map_err(|rejection| ApiError::invalid_query(&rejection, "raw"))?;
    let raw = match query.raw.as_deref().map(str::trim) {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_parameter", "raw must be true or false")),
    };
    let delivery = stored(&state.db, &delivery_id).await?;
    if raw {
        let content_type = match delivery.body {
            StoredBody::Json(_) => "application/json",
            StoredBody::Bytes(_) => "application/octet-stream",
        };
        let bytes = match delivery.body {
            StoredBody::Json(text) => text.into_bytes(),
            StoredBody::Bytes(bytes) => bytes,
        };
        return Ok((
            super::error::UNTRUSTED_CONTENT,
            [(header::CONTENT_TYPE, content_type)],
            bytes,
        )
            .into_response());
    }
    Ok(Json(DeliveryDetail::from(delivery)).into_response())
}

/// One recorded delivery with its body, or a 404 (the CLI shows a delivery through it too).
pub(crate) async fn stored(db: &PgPool, delivery_id: &str) -> Result<StoredDelivery, ApiError> {
    params::path_id("delivery_id", delivery_id)?;
    deliveries::get(db, delivery_id)
        .await?
        .ok_or_else(|| delivery_not_found(delivery_id))
}

impl From<StoredDelivery> for DeliveryDetail {
    fn from(delivery: StoredDelivery) -> Self {
        let (body_kept_as, body_text) = match delivery.body {
            StoredBody::Json(text) => ("json", Some(text)),
            StoredBody::Bytes(bytes) => ("bytes", String::from_utf8(bytes).ok()),
        };
        Self {
            summary: delivery.summary,
            body_kept_as,
            body_text,
        }
    }
}

#[utoipa::path(post, path = "/deliveries/{delivery_id}/replay", operation_id = "replay_delivery", tag = "deliveries",
    params(("delivery_id" = String, Path, description = "The delivery id (`rtk-uuid`, or `sha256:...`)")),
    responses(
        (status = 200, description = "Classified again; a usable meeting.ended is now recorded (once), and a foreign delivery whose app is now configured is recorded as usual", body = Replayed),
        (status = 400, description = "The delivery id cannot be one", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such delivery has been recorded (or it is past retention)", body = ErrorBody),
        (status = 503, description = "The database is unavailable; try again", body = ErrorBody),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let apps = state.realtimekit.apps();
    Ok(Json(
        replay_one(&state.db, &delivery_id, state.ingest.jobs(), apps).await?,
    ))
}

/// Reads a kept delivery again for the configured apps and records what it now says, or a 404 (the CLI replays
/// through it too).
pub(crate) async fn replay_one(
    db: &PgPool,
    delivery_id: &str,
    jobs: &JobSpecs,
    apps: &Apps,
) -> Result<Replayed, ApiError> {
    params::path_id("delivery_id", delivery_id)?;
    let replayed = deliveries::replay(db, delivery_id, jobs, apps)
        .await?
        .ok_or_else(|| delivery_not_found(delivery_id))?;
    tracing::info!(
        delivery_id = %replayed.delivery_id,
        previous = replayed.previous_outcome.as_str(),
        outcome = replayed.outcome.as_str(),
        "replayed a delivery"
    );
    Ok(replayed)
}

fn delivery_not_found(delivery_id: &str) -> ApiError {
    ApiError::not_found(format!("no delivery with id {delivery_id:?} is recorded"))
}
