//! The OpenAPI 3.1 document, generated from the handlers' annotations so that it cannot drift from the code;
//! served at `GET /openapi.json` and committed as `openapi.json` (a test fails when the committed file is stale).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{artifacts, deliveries, followups, health, meetings, sessions, webhook};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rtk-sessions",
        description = "Verified, durable, idempotent receiver for Cloudflare RealtimeKit webhooks (`meeting.ended` \
                       and the events announcing recordings, transcripts, summaries and chat exports), and the \
                       operator API over the sessions it recorded and the artifacts it archived. Every error answer has the shape \
                       `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        sessions::list,
        sessions::get_one,
        sessions::report,
        artifacts::download,
        artifacts::download_recording,
        deliveries::list,
        deliveries::get_one,
        deliveries::replay,
        followups::list,
        followups::retry,
        meetings::end,
        webhook::receive,
        health::healthz,
        health::readyz,
    ),
    components(schemas(crate::domain::job::JobStatus)),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "sessions", description = "Recorded sessions"),
        (name = "deliveries", description = "Every verified delivery, as received; replaying one"),
        (name = "followups", description = "The follow-up job queue"),
        (name = "meetings", description = "Acting on RealtimeKit meetings"),
        (name = "receiver", description = "Where RealtimeKit delivers webhooks"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
