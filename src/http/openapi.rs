//! The OpenAPI 3.1 document, generated from the handlers' annotations so that it cannot drift from the code;
//! served at `GET /openapi.json` and committed as `openapi.json` (a test fails when the committed file is stale).

use axum::Json;
use axum::http::Method;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::auth::scope_needed;
use super::{artifacts, deliveries, followups, health, meetings, sessions, webhook};
use crate::domain::Scope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rtk-sessions",
        description = "Verified, durable, idempotent receiver for Cloudflare RealtimeKit webhooks (`meeting.ended` \
                       and the events announcing recordings, transcripts, summaries and chat exports), and the \
                       operator API over the sessions it recorded and the artifacts it archived. Every error answer has the shape \
                       `{\"error\": {\"code\", \"message\"}}`. \
                       Each operator operation states the token scope it needs (`x-required-scope`, and the \
                       `bearer` security requirement): `read` may call every `GET`; `operate` may also end meetings, \
                       retry follow-ups and replay deliveries. A token of a lower scope is answered `403`."
    ),
    paths(
        sessions::list,
        sessions::get_one,
        sessions::report,
        artifacts::download,
        artifacts::download_recording,
        artifacts::download_recording_file,
        deliveries::list,
        deliveries::get_one,
        deliveries::replay,
        followups::list,
        followups::retry,
        meetings::end,
        webhook::receive,
        health::healthz,
        health::readyz,
        health::metrics,
        serve,
    ),
    components(schemas(crate::domain::job::JobStatus, crate::domain::job::JobListStatus)),
    modifiers(&BearerToken, &OperationScopes),
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

/// States the scope of every operation that needs a token, by the one rule the service enforces
/// ([`scope_needed`]), and the `403` a token of a lower scope gets.
struct OperationScopes;

impl Modify for OperationScopes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (Method::GET, item.get.as_mut()),
                (Method::HEAD, item.head.as_mut()),
                (Method::POST, item.post.as_mut()),
                (Method::PUT, item.put.as_mut()),
                (Method::PATCH, item.patch.as_mut()),
                (Method::DELETE, item.delete.as_mut()),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation.filter(|op| !is_public(op)) {
                    state_scope(operation, scope_needed(&method));
                }
            }
        }
    }
}

/// An operation annotated `security(())`: reachable without a token.
fn is_public(operation: &Operation) -> bool {
    operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.iter().all(|r| *r == SecurityRequirement::default()))
}

fn state_scope(operation: &mut Operation, scope: Scope) {
    operation.security = Some(vec![SecurityRequirement::new("bearer", [scope.as_str()])]);
    let extension: Extensions = [("x-required-scope", serde_json::Value::from(scope.as_str()))]
        .into_iter()
        .collect();
    operation
        .extensions
        .get_or_insert_with(Default::default)
        .merge(extension);
    if scope > Scope::Read {
        let refused = ResponseBuilder::new()
            .description(format!("The token's scope is not {scope}"))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation.responses.responses.insert("403".to_owned(), refused.into());
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "health", security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object)))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
