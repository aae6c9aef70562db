//! `POST /webhooks/realtimekit`: verify the signature over the raw bytes, then parse, then record, then answer.
//!
//! RealtimeKit retries a 5xx and drops anything else below 500 for good, so: 4xx only for a request that can
//! never succeed (no signature, a bad signature, a body over the limit); 503 with `Retry-After` for every failure of
//! ours; 200 once the delivery is committed, whatever it contained.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use tracing::Span;

use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::{DeliveryBody, DeliveryId, Reading, WebhookId, read_delivery};
use crate::observability;
use crate::realtimekit::public_key::VerifyError;
use crate::realtimekit::signature::decode_signature_header;
use crate::store::deliveries::{self, Outcome, VerifiedDelivery};

/// Current header names first, then the legacy Dyte ones.
const SIGNATURE_HEADERS: [&str; 2] = ["rtk-signature", "dyte-signature"];
const DELIVERY_ID_HEADERS: [&str; 2] = ["rtk-uuid", "dyte-uuid"];
const WEBHOOK_ID_HEADERS: [&str; 2] = ["rtk-webhook-id", "dyte-webhook-id"];

/// What became of a verified delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acknowledgement {
    pub outcome: Outcome,
    /// The delivery's id (its `rtk-uuid`, or `sha256:` and its body's digest without one).
    pub delivery_id: String,
    /// For a duplicate of bytes already kept under another id: that id, which `GET /deliveries/{id}` shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_as: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

#[utoipa::path(post, path = "/webhooks/realtimekit", operation_id = "receive_delivery", tag = "receiver", security(()),
    params(
        ("rtk-signature" = String, Header, description = "Base64 RSASSA-PKCS1-v1_5 SHA-256 signature of the raw body"),
        ("rtk-uuid" = Option<String>, Header, description = "The delivery id, the same across retries"),
        ("rtk-webhook-id" = Option<String>, Header, description = "The webhook that sent the delivery"),
    ),
    request_body(content = serde_json::Value, description = "The event, exactly as RealtimeKit signed it"),
    responses(
        (status = 200, description = "Recorded (stored, duplicate, ignored, unprocessable, or foreign: of an app that is not configured)", body = Acknowledgement),
        (status = 400, description = "The signature header is missing or not base64", body = ErrorBody),
        (status = 401, description = "The signature does not verify", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 503, description = "Not stored this time (no key yet, database unavailable, timeout, overload); retry",
            body = ErrorBody),
    ))]
pub async fn receive(State(state): State<AppState>, request: Request) -> Result<Json<Acknowledgement>, ApiError> {
    // The headers are read where they are (the `HeaderMap` extractor would copy them all).
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    refuse_declared_oversize(headers, state.body_limit_bytes)?;
    let signature = signature_from(headers)?;
    let body = DeliveryBody::new(read_body(body, state.body_limit_bytes, state.body_read_timeout).await?);
    verify(&state, &body, &signature).await?;
    // Capacity is taken only for a verified delivery: a stranger's slow upload never holds it.
    let Ok(_permit) = state.capacity.deliveries.clone().try_acquire_owned() else {
        observability::rejected("overloaded");
        return Err(super::error::overloaded());
    };
    let result = record(&state, headers, body).await;
    if result.is_err() {
        observability::rejected("storage_unavailable");
    }
    result
}

async fn record(state: &AppState, headers: &HeaderMap, body: DeliveryBody) -> Result<Json<Acknowledgement>, ApiError> {
    let delivery_id = DeliveryId::from_header_or_body(first_header(headers, &DELIVERY_ID_HEADERS), &body);
    let webhook_id = WebhookId::from_header(first_header(headers, &WEBHOOK_ID_HEADERS));
    Span::current().record("delivery_id", delivery_id.as_str());

    let json: Option<serde_json::Value> = serde_json::from_slice(body.bytes()).ok();
    let Reading { app_id, classified } = read_delivery(json.as_ref(), state.realtimekit.apps());
    let body_sha256 = *body.sha256();
    drop(json);
    if let Some(webhook_id) = &webhook_id {
        warn_if_another_apps_webhook(state, webhook_id, app_id.as_deref());
    }
    let session_id = classified.session_id().map(str::to_owned);
    if let Some(session_id) = &session_id {
        Span::current().record("session_id", session_id.as_str());
    }

    // What the log line says of the event, taken before the delivery moves to the writer.
    let event = classified.event().map(str::to_owned);
    let reason = classified.reason().map(str::to_owned);
    let delivery = VerifiedDelivery {
        delivery_id: delivery_id.clone(),
        webhook_id,
        app_id: app_id.clone(),
        body,
        classified,
    };
    let outcome = state.ingest.record(delivery).await?;
    // The metric's app label is a configured app's id only, so that its values are bounded by the configuration: an
    // admitted delivery's app, once apps are configured; none for a foreign one or while no app is configured.
    let configured = !state.realtimekit.apps().is_empty() && outcome != Outcome::Foreign;
    let app_label = app_id.as_deref().filter(|_| configured).unwrap_or_default();
    observability::delivery(outcome.as_str(), app_label);

    if outcome == Outcome::Foreign {
        tracing::warn!(
            delivery_id = delivery_id.as_str(),
            app_id,
            event,
            reason,
            "a delivery of an app that is not configured: kept as foreign, nothing is done for it (add the app to \
             realtimekit.apps and replay it if it is yours)"
        );
    } else if outcome == Outcome::Unprocessable {
        tracing::error!(
            delivery_id = delivery_id.as_str(),
            event,
            reason,
            "kept a verified delivery that cannot be used; its exact body is in the deliveries table"
        );
    } else {
        tracing::info!(
            delivery_id = delivery_id.as_str(),
            session_id = session_id.as_deref(),
            event,
            outcome = outcome.as_str(),
            "delivery accepted"
        );
    }
    let kept_as = match outcome {
        Outcome::Duplicate => kept_elsewhere(state, &delivery_id, &body_sha256).await,
        _ => None,
    };
    Ok(Json(Acknowledgement {
        outcome,
        delivery_id: delivery_id.as_str().to_owned(),
        kept_as,
        session_id,
    }))
}

/// The id the bytes of a duplicate are kept under, when it is not the delivery's own. The delivery is answered all
/// the same when the lookup fails: it is recorded.
async fn kept_elsewhere(state: &AppState, delivery_id: &DeliveryId, body_sha256: &[u8]) -> Option<String> {
    match deliveries::kept_as(&state.db, delivery_id.as_str(), body_sha256).await {
        Ok(kept) => kept.filter(|kept| kept != delivery_id.as_str()),
        Err(error) => {
            tracing::warn!(%error, "could not look up which delivery a duplicate's bytes are kept under");
            None
        }
    }
}

/// `rtk-webhook-id` is not signed, so the signed app id is the one trusted. But a delivery that came through the
/// webhook we registered for one app and names another means that the app ids are not what we take them for: said
/// loudly (log and metric), never silently.
fn warn_if_another_apps_webhook(state: &AppState, webhook_id: &WebhookId, app_id: Option<&str>) {
    let Some(webhook_app) = state.registration.app_of_webhook(webhook_id.as_str()) else {
        return;
    };
    if app_id != Some(webhook_app.as_str()) {
        observability::webhook_app_mismatch(&webhook_app);
        state
            .registration
            .record_mismatch(webhook_app.clone(), app_id.map(str::to_owned));
        tracing::error!(
            webhook_id = webhook_id.as_str(),
            webhook_app,
            delivery_app = app_id,
            "a delivery came through the webhook registered for one app but names another app; the app id in the \
             signed body is the one trusted"
        );
    }
}

/// A body whose `content-length` is over the limit is refused before a byte of it is read.
fn refuse_declared_oversize(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Reads the whole body, at most `limit` bytes, within `deadline`. A body that does not arrive in time is a 503:
/// a slow network may have delayed a real delivery, which RealtimeKit then retries.
async fn read_body(body: Body, limit: usize, deadline: Duration) -> Result<Bytes, ApiError> {
    let read = tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await;
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Ok(Err(error)) => {
            observability::rejected("unreadable_body");
            Err(ApiError::bad_request(
                "unreadable_body",
                format!("the body could not be read: {error}"),
            ))
        }
        Err(_) => {
            observability::rejected("body_timeout");
            Err(ApiError::unavailable(
                "body_timeout",
                format!(
                    "the body did not arrive within {} seconds; try again",
                    deadline.as_secs_f64()
                ),
                Duration::from_secs(5),
            )
            .closing_connection())
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    observability::rejected("payload_too_large");
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than the limit of {limit} bytes"),
    )
    .closing_connection()
}

fn first_header<'h>(headers: &'h HeaderMap, names: &[&str]) -> Option<&'h str> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|value| value.to_str().ok())
}

fn signature_from(headers: &HeaderMap) -> Result<Vec<u8>, ApiError> {
    let present = SIGNATURE_HEADERS.iter().find_map(|name| headers.get(*name));
    let Some(value) = present.filter(|value| !value.as_bytes().trim_ascii().is_empty()) else {
        observability::rejected("missing_signature");
        return Err(ApiError::bad_request(
            "missing_signature",
            "the rtk-signature header is missing",
        ));
    };
    decode_signature_header(value.as_bytes()).ok_or_else(|| {
        observability::rejected("malformed_signature");
        ApiError::bad_request("malformed_signature", "the rtk-signature header is not base64")
    })
}

async fn verify(state: &AppState, body: &DeliveryBody, signature: &[u8]) -> Result<(), ApiError> {
    state.keys.verify(body, signature).await.map_err(|error| {
        let reason = match error {
            VerifyError::Invalid => "invalid_signature",
            VerifyError::NoKeyYet | VerifyError::RefetchFailed => "key_unavailable",
            VerifyError::RefetchNotAllowedYet { .. } => "key_refetch_pending",
        };
        observability::rejected(reason);
        verify_error(error)
    })
}

fn verify_error(error: VerifyError) -> ApiError {
    match error {
        VerifyError::Invalid => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the rtk-signature does not verify against RealtimeKit's public key",
        ),
        VerifyError::NoKeyYet => ApiError::unavailable(
            "verification_key_unavailable",
            "the RealtimeKit verification key is not loaded yet; try again later",
            Duration::from_secs(5),
        ),
        VerifyError::RefetchNotAllowedYet { retry_after } => ApiError::unavailable(
            "verification_key_refresh_pending",
            "the signature does not verify against the cached key, which may have rotated; try again later",
            retry_after,
        ),
        VerifyError::RefetchFailed => ApiError::unavailable(
            "verification_key_unavailable",
            "the signature does not verify against the cached key and the key could not be refetched; try again later",
            Duration::from_secs(30),
        ),
    }
}
