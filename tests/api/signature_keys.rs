//! A fetched verification key: loaded from a local key server standing in for RealtimeKit's well-known document,
//! and refetched when it rotates, at most once per interval.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, other_signer, realtimekit_signer, spawn_app_with, status_and_json};
use rtk_sessions::WebhookSigner;
use rtk_sessions::{SignedDelivery, sample_body};

const KEY_PATH: &str = "/.well-known/webhooks.json";

fn key_document(signer: &WebhookSigner) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "success": true,
        "data": {"publicKey": signer.public_key_pem().expect("pem")},
        "message": ""
    }))
}

async fn serve_key(server: &MockServer, signer: &WebhookSigner) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(KEY_PATH))
        .respond_with(key_document(signer))
        .mount(server)
        .await;
}

async fn spawn_with_key_server(server: &MockServer, refetch_interval_secs: u64) -> TestApp {
    let url = format!("{}{KEY_PATH}", server.uri());
    let app = spawn_app_with(|s| {
        s.realtimekit.public_key_pem.clear();
        s.realtimekit.public_key_url = url;
        s.realtimekit.public_key_refetch_interval = std::time::Duration::from_secs(refetch_interval_secs);
    })
    .await;
    app.wait_until(|r| r["checks"]["verification_key"]["status"] == "ok")
        .await;
    app
}

async fn fetches(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |requests| requests.len())
}

#[tokio::test]
async fn a_rotated_key_is_refetched_and_the_delivery_signed_with_it_is_accepted() {
    let server = MockServer::start().await;
    serve_key(&server, realtimekit_signer()).await;
    let app = spawn_with_key_server(&server, 0).await;
    assert_eq!(app.deliver(&app.meeting_ended()).await.status(), 200);

    // RealtimeKit rotates its key.
    serve_key(&server, other_signer()).await;
    let rotated = SignedDelivery::new(other_signer(), sample_body("meeting.ended"));
    let (status, ack) = status_and_json(app.deliver(&rotated).await).await;

    assert_eq!((status, ack["outcome"].as_str()), (200, Some("stored")));
    assert_eq!(fetches(&server).await, 1, "one refetch after the rotation");
    // The new key is cached: no further fetch for the next delivery.
    assert_eq!(
        app.deliver(&SignedDelivery::new(other_signer(), sample_body("meeting.ended")))
            .await
            .status(),
        200
    );
    assert_eq!(fetches(&server).await, 1);
}

#[tokio::test]
async fn a_forged_signature_is_a_401_after_the_refetch_brings_the_same_key() {
    let server = MockServer::start().await;
    serve_key(&server, realtimekit_signer()).await;
    let app = spawn_with_key_server(&server, 0).await;
    let forged = SignedDelivery::new(other_signer(), sample_body("meeting.ended"));

    let (status, error) = status_and_json(app.deliver(&forged).await).await;

    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "invalid_signature");
    assert_eq!(app.count("deliveries").await, 0);
}

#[tokio::test]
async fn while_a_refetch_is_not_allowed_yet_a_failing_signature_is_a_503_with_retry_after() {
    let server = MockServer::start().await;
    serve_key(&server, realtimekit_signer()).await;
    let app = spawn_with_key_server(&server, 3600).await;
    serve_key(&server, other_signer()).await;
    let rotated = SignedDelivery::new(other_signer(), sample_body("meeting.ended"));

    let response = app.deliver(&rotated).await;

    assert_eq!(response.status(), 503, "retryable: RealtimeKit will bring it again");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after > 60 && retry_after <= 3600, "{retry_after}");
    assert_eq!(
        fetches(&server).await,
        0,
        "the initial fetch was too recent to fetch again"
    );
    assert_eq!(app.count("deliveries").await, 0);
    // A genuine delivery signed with the cached key is unaffected.
    assert_eq!(app.deliver(&app.meeting_ended()).await.status(), 200);
}

#[tokio::test]
async fn concurrent_failures_share_one_refetch() {
    let server = MockServer::start().await;
    serve_key(&server, realtimekit_signer()).await;
    let app = spawn_with_key_server(&server, 0).await;
    serve_key(&server, other_signer()).await;
    let deliveries: Vec<SignedDelivery> = (0..8)
        .map(|_| SignedDelivery::new(other_signer(), sample_body("meeting.ended")))
        .collect();

    let statuses =
        futures_util::future::join_all(deliveries.iter().map(|d| async { app.deliver(d).await.status() })).await;

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        fetches(&server).await,
        1,
        "one fetch at a time; waiters use the key it brought"
    );
}
