//! `/readyz` is 503 until the database is migrated and a verification key is loaded, then 200.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{realtimekit_signer, spawn_app, spawn_app_with, status_and_json};

#[tokio::test]
async fn readiness_goes_from_503_to_200_once_the_key_server_answers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/key"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": {"publicKey": realtimekit_signer().public_key_pem().expect("pem")}
        })))
        .mount(&server)
        .await;
    let url = format!("{}/key", server.uri());
    let app = spawn_app_with(|s| {
        s.realtimekit.public_key_pem.clear();
        s.realtimekit.public_key_url = url;
    })
    .await;

    let (status, readiness) = app.readiness().await;
    assert_eq!(status, 503);
    assert_eq!(readiness["status"], "not_ready");
    assert_eq!(readiness["checks"]["database"]["status"], "ok");
    assert_eq!(readiness["checks"]["verification_key"]["status"], "failing");
    assert_eq!(readiness["checks"]["verification_key"]["reason"], "not_loaded");
    assert!(
        readiness["checks"]["verification_key"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("500"))
    );
    // Until the key loads, deliveries are retryable, not rejected.
    let response = app.deliver(&app.meeting_ended()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));

    app.wait_until(|r| r["status"] == "ready").await;
    let (status, readiness) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(readiness["checks"]["verification_key"]["source"], "fetched");
    assert_eq!(app.deliver(&app.meeting_ended()).await.status(), 200);
}

#[tokio::test]
async fn with_a_pinned_key_and_a_database_the_service_is_ready() {
    let app = spawn_app().await;
    let readiness = app.wait_until(|r| r["status"] == "ready").await;
    assert_eq!(readiness["checks"]["verification_key"]["source"], "pinned");
    let (status, body) = status_and_json(
        app.http
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .expect("ok"),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn the_service_creates_its_database_and_a_graceful_stop_finishes_in_flight_requests() {
    let mut app = spawn_app().await;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&app.db_name)
        .fetch_one(&app.db)
        .await
        .expect("query");
    assert!(exists);

    // A delivery in flight when the stop begins still gets its answer.
    let mut blocker = app.db.begin().await.expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let delivery = app.meeting_ended();
    let in_flight = {
        let request = delivery.request(&app.http, &app.webhook_url());
        tokio::spawn(async move { request.send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker.rollback().await.expect("unlock");

    let response = in_flight.await.expect("task").expect("answered");
    assert_eq!(response.status(), 200);
    app.stop().await.expect("a clean stop");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn a_postgres_that_refuses_connections_is_unreachable_not_unmigrated() {
    let closed_port = crate::binary::free_port();
    let mut settings = crate::helpers::test_settings();
    settings.database.url =
        rtk_sessions::Secret::new(format!("postgres://postgres@127.0.0.1:{closed_port}/rtk_nowhere"));
    let app = crate::helpers::start(settings).await;
    let readiness = app.wait_until(|r| r["checks"]["database"]["reason"].is_string()).await;
    assert_eq!(readiness["checks"]["database"]["status"], "failing");
    assert_eq!(readiness["checks"]["database"]["reason"], "unreachable", "{readiness}");
}
