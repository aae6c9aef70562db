//! The OpenAPI document: generated from the code, served at /openapi.json, and committed as openapi.json.
//! `UPDATE_OPENAPI=1 cargo test openapi` rewrites the committed file after an API change.

use serde_json::Value;

use crate::helpers::{spawn_app, status_and_json};

fn generated() -> Value {
    serde_json::to_value(rtk_sessions::openapi_document()).expect("the document serialises")
}

#[test]
fn the_committed_openapi_json_is_the_one_the_code_generates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let fresh = serde_json::to_string_pretty(&generated()).expect("json") + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &fresh).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test openapi` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_every_operator_endpoint_and_the_error_shape() {
    let document = generated();
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    for (path, method) in [
        ("/sessions", "get"),
        ("/sessions/{session_id}", "get"),
        ("/sessions/{session_id}/report", "get"),
        ("/followups", "get"),
        ("/followups/{id}/retry", "post"),
        ("/meetings/{meeting_id}/end", "post"),
        ("/webhooks/realtimekit", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let error = &document["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

/// Client generators name their methods after `operationId`: each must be there, and unique.
#[test]
fn every_operation_has_an_operation_id_of_its_own() {
    let document = generated();
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no id"));
            if let Some(earlier) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {earlier} and by {method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn the_service_serves_its_document_without_a_token() {
    let app = spawn_app().await;
    let (status, served) = status_and_json(
        app.http
            .get(format!("{}/openapi.json", app.address))
            .send()
            .await
            .expect("ok"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(served, generated());
}
