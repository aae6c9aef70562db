//! Every row of the receiver's contract: what each request is answered, and what is kept.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{other_signer, realtimekit_signer, spawn_app, spawn_app_with, status_and_json};
use rtk_sessions::{SignedDelivery, sample_body};

#[tokio::test]
async fn a_new_meeting_ended_delivery_is_stored_with_its_session_before_the_200() {
    let app = spawn_app().await;
    let body = include_bytes!("../fixtures/meeting.ended.json").to_vec();
    let delivery = app.signed(body);

    let (status, ack) = status_and_json(app.deliver(&delivery).await).await;

    assert_eq!(status, 200);
    assert_eq!(ack["outcome"], "stored");
    assert_eq!(ack["delivery_id"], delivery.delivery_id);
    assert_eq!(ack["session_id"], "05e57591-d89e-45c9-ae44-08dc1eaad0e0");
    assert_eq!(
        app.delivery_status(&delivery.delivery_id).await.as_deref(),
        Some("stored")
    );

    let (status, session) = status_and_json(app.get_session("05e57591-d89e-45c9-ae44-08dc1eaad0e0").await).await;
    assert_eq!(status, 200);
    assert_eq!(session["meeting_id"], "50c8940e-1b97-402a-97d6-2708b7feca41");
    assert_eq!(session["meeting_title"], "Weekly sync");
    assert_eq!(session["room_name"], "50c8940e-1b97-402a-97d6-2708b7feca41");
    assert_eq!(session["organization_id"], "c94c437b-592a-4a39-b9e2-47ef1451e43b");
    assert_eq!(session["organization_name"], "Example organization");
    assert_eq!(session["reason"], "ALL_PARTICIPANTS_LEFT");
    assert_eq!(session["meeting_created_at"], "2026-06-03T10:00:00Z");
    assert_eq!(session["started_at"], "2026-06-03T10:00:00Z");
    assert_eq!(session["ended_at"], "2026-06-03T10:30:00Z");
    assert_eq!(session["duration_seconds"], 1800);
    assert_eq!(session["delivery_id"], delivery.delivery_id);
    assert_eq!(session["webhook_id"], delivery.webhook_id);
    assert!(session["received_at"].is_string());
}

#[tokio::test]
async fn a_retry_of_the_same_delivery_is_a_200_duplicate_and_adds_nothing() {
    let app = spawn_app().await;
    let delivery = app.meeting_ended();
    assert_eq!(app.deliver(&delivery).await.status(), 200);

    let (status, ack) = status_and_json(app.deliver(&delivery).await).await;

    assert_eq!(status, 200);
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(app.count("deliveries").await, 1);
    assert_eq!(app.count("sessions").await, 1);
    assert_eq!(
        app.delivery_status(&delivery.delivery_id).await.as_deref(),
        Some("stored")
    );
}

#[tokio::test]
async fn a_new_delivery_for_a_recorded_session_is_kept_as_duplicate_and_the_session_is_unchanged() {
    let app = spawn_app().await;
    let first = app.meeting_ended();
    assert_eq!(app.deliver(&first).await.status(), 200);
    // Another event of the same session (other bytes), under another rtk-uuid.
    let mut body = first.body.clone();
    body.push(b'\n');
    let second = SignedDelivery::new(realtimekit_signer(), body);

    let (status, ack) = status_and_json(app.deliver(&second).await).await;

    assert_eq!(status, 200);
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(
        app.delivery_status(&second.delivery_id).await.as_deref(),
        Some("duplicate")
    );
    assert_eq!(app.count("sessions").await, 1);
    let session_id = ack["session_id"].as_str().expect("session id").to_owned();
    let (_, session) = status_and_json(app.get_session(&session_id).await).await;
    assert_eq!(session["delivery_id"], first.delivery_id);
}

#[tokio::test]
async fn another_event_type_is_kept_as_ignored() {
    let app = spawn_app().await;
    for event in ["meeting.notYetKnown", "meeting.recordingConsent"] {
        let body = serde_json::json!({"event": event, "meeting": {"sessionId": "s-1"}})
            .to_string()
            .into_bytes();
        let delivery = app.signed(body);

        let (status, ack) = status_and_json(app.deliver(&delivery).await).await;

        assert_eq!(status, 200, "{event}");
        assert_eq!(ack["outcome"], "ignored");
        assert_eq!(
            app.delivery_status(&delivery.delivery_id).await.as_deref(),
            Some("ignored")
        );
    }
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn a_verified_body_that_cannot_be_used_is_a_200_and_kept_byte_for_byte() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"this is not json \xff\xfe".to_vec()),
        ("no event", br#"{"meeting": {}}"#.to_vec()),
        (
            "meeting.ended without ids",
            br#"{"event": "meeting.ended", "meeting": {"title": "x"}}"#.to_vec(),
        ),
        (
            "JSON that jsonb cannot hold",
            br#"{"event": "meeting.ended", "x": "\u0000"}"#.to_vec(),
        ),
    ];
    for (case, body) in cases {
        let delivery = app.signed(body.clone());

        let (status, ack) = status_and_json(app.deliver(&delivery).await).await;

        assert_eq!(status, 200, "{case}");
        assert_eq!(ack["outcome"], "unprocessable", "{case}");
        let (kept, error): (Vec<u8>, Option<String>) = sqlx::query_as(
            "SELECT coalesce(raw_body, convert_to(payload::text, 'UTF8')), error FROM deliveries WHERE delivery_id = $1",
        )
        .bind(&delivery.delivery_id)
        .fetch_one(&app.db)
        .await
        .expect("the delivery is kept");
        if serde_json::from_slice::<Value>(&body).is_ok() && !case.contains("jsonb") {
            let kept: Value = serde_json::from_slice(&kept).expect("kept as JSON");
            assert_eq!(kept, serde_json::from_slice::<Value>(&body).expect("json"), "{case}");
        } else {
            assert_eq!(kept, body, "{case}: exact bytes");
        }
        assert!(error.is_some_and(|e| !e.is_empty()), "{case}: the reason is kept");
    }
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn a_usable_meeting_ended_with_a_nul_character_records_the_session_and_keeps_the_exact_bytes() {
    let app = spawn_app().await;
    let body = br#"{"event":"meeting.ended","meeting":{"id":"m-1","sessionId":"s-nul","title":"a\u0000b","endedAt":"2026-06-03T10:30:00Z"}}"#;
    let delivery = app.signed(body.to_vec());

    let (status, ack) = status_and_json(app.deliver(&delivery).await).await;

    assert_eq!((status, ack["outcome"].as_str()), (200, Some("stored")));
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw_body FROM deliveries WHERE delivery_id = $1")
        .bind(&delivery.delivery_id)
        .fetch_one(&app.db)
        .await
        .expect("kept");
    assert_eq!(raw, body);
    let (_, session) = status_and_json(app.get_session("s-nul").await).await;
    assert_eq!(session["meeting_title"], "ab");
}

#[tokio::test]
async fn a_missing_or_undecodable_signature_is_a_400_and_nothing_is_kept() {
    let app = spawn_app().await;
    let body = sample_body("meeting.ended");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("rtk-uuid", "a")], "missing_signature"),
        (&[("rtk-signature", ""), ("rtk-uuid", "b")], "missing_signature"),
        (
            &[("rtk-signature", "%%% not base64 %%%"), ("rtk-uuid", "c")],
            "malformed_signature",
        ),
    ];
    for (headers, code) in cases {
        let (status, error) = status_and_json(app.post_webhook(body.clone(), headers).await).await;
        assert_eq!(status, 400, "{headers:?}");
        assert_eq!(error["error"]["code"], *code);
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("rtk-signature"))
        );
    }
    assert_eq!(app.count("deliveries").await, 0);
}

#[tokio::test]
async fn a_signature_that_does_not_verify_against_the_pinned_key_is_a_401_and_nothing_is_kept() {
    let app = spawn_app().await;
    let genuine = app.meeting_ended();
    let mut tampered_body = genuine.body.clone();
    tampered_body.extend_from_slice(b" ");
    let forged = SignedDelivery::new(other_signer(), sample_body("meeting.ended"));
    let truncated = SignedDelivery {
        signature: genuine.signature[..40].to_owned(),
        ..SignedDelivery::new(realtimekit_signer(), genuine.body.clone())
    };

    for (case, response) in [
        (
            "tampered body",
            app.post_webhook(tampered_body, &[("rtk-signature", &genuine.signature)])
                .await,
        ),
        ("signed with another key", app.deliver(&forged).await),
        ("truncated signature", app.deliver(&truncated).await),
    ] {
        let (status, error) = status_and_json(response).await;
        assert_eq!(status, 401, "{case}");
        assert_eq!(error["error"]["code"], "invalid_signature", "{case}");
    }
    assert_eq!(app.count("deliveries").await, 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_and_nothing_is_kept() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = std::num::NonZero::new(2048).expect("above 0")).await;
    let mut body = sample_body("meeting.ended");
    body.truncate(body.len() - 1);
    body.extend_from_slice(format!(r#","padding":"{}"}}"#, "x".repeat(4096)).as_bytes());
    let delivery = app.signed(body);

    let (status, error) = status_and_json(app.deliver(&delivery).await).await;

    assert_eq!(status, 413);
    assert_eq!(error["error"]["code"], "payload_too_large");
    assert_eq!(app.count("deliveries").await, 0);
}

#[tokio::test]
async fn legacy_dyte_headers_are_accepted() {
    let app = spawn_app().await;
    let delivery = app.meeting_ended();
    let headers = [
        ("dyte-signature", delivery.signature.as_str()),
        ("dyte-uuid", delivery.delivery_id.as_str()),
        ("dyte-webhook-id", "legacy-hook"),
    ];

    let (status, ack) = status_and_json(app.post_webhook(delivery.body.clone(), &headers).await).await;

    assert_eq!((status, ack["outcome"].as_str()), (200, Some("stored")));
    assert_eq!(ack["delivery_id"], delivery.delivery_id);
}

#[tokio::test]
async fn a_delivery_without_rtk_uuid_is_deduplicated_by_its_body() {
    let app = spawn_app().await;
    let delivery = app.meeting_ended();
    let headers = [("rtk-signature", delivery.signature.as_str())];

    let (_, first) = status_and_json(app.post_webhook(delivery.body.clone(), &headers).await).await;
    let (status, second) = status_and_json(app.post_webhook(delivery.body.clone(), &headers).await).await;

    assert_eq!(first["outcome"], "stored");
    assert!(
        first["delivery_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sha256:"))
    );
    assert_eq!((status, second["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(app.count("deliveries").await, 1);
}

#[tokio::test]
async fn duplicates_racing_each_other_produce_exactly_one_session_with_or_without_group_commit() {
    for batch_max in [1, 64] {
        duplicates_racing_each_other_produce_exactly_one_session(batch_max).await;
    }
}

async fn duplicates_racing_each_other_produce_exactly_one_session(batch_max: usize) {
    let app = spawn_app_with(|s| s.ingest.batch_max = std::num::NonZero::new(batch_max).expect("above 0")).await;
    let original = app.meeting_ended();
    // 24 deliveries of one session at once: 8 retries of one rtk-uuid and 16 under their own rtk-uuids.
    let mut deliveries: Vec<SignedDelivery> = Vec::new();
    for i in 0..24 {
        let mut delivery = SignedDelivery::new(realtimekit_signer(), original.body.clone());
        if i % 3 == 0 {
            delivery.delivery_id = original.delivery_id.clone();
        }
        deliveries.push(delivery);
    }

    let answers = join_all(
        deliveries
            .iter()
            .map(|d| async { status_and_json(app.deliver(d).await).await }),
    )
    .await;

    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let stored = answers.iter().filter(|(_, ack)| ack["outcome"] == "stored").count();
    assert_eq!(stored, 1, "exactly one delivery brought the session: {answers:?}");
    assert_eq!(app.count("sessions").await, 1);
    assert_eq!(app.count("deliveries").await, 1, "one row per distinct body");
    let stored_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'stored'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored_rows, 1);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    // Nothing listens on port 1.
    let app = crate::helpers::start({
        let mut settings = crate::helpers::test_settings();
        settings.database.url = rtk_sessions::Secret::new("postgres://postgres@127.0.0.1:1/nowhere");
        settings.database.acquire_timeout = std::time::Duration::from_secs(1);
        settings
    })
    .await;
    let delivery = app.meeting_ended();

    let response = app.deliver(&delivery).await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let (_, error) = status_and_json(response).await;
    assert_eq!(error["error"]["code"], "storage_unavailable");
    let (status, readiness) = app.readiness().await;
    assert_eq!(status, 503);
    assert_eq!(readiness["checks"]["database"]["status"], "failing");
}

#[tokio::test]
async fn a_request_past_the_timeout_is_a_503_and_its_retry_records_the_session_exactly_once() {
    let app = spawn_app_with(|s| s.server.request_timeout = std::time::Duration::from_secs(1)).await;
    let delivery = app.meeting_ended();
    // Hold a lock that the insert must wait for.
    let mut blocker = app.db.begin().await.expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");

    let response = app.deliver(&delivery).await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    blocker.rollback().await.expect("release the lock");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // RealtimeKit retries: the answer is 200, whether or not the timed-out attempt committed in the end.
    let (status, ack) = status_and_json(app.deliver(&delivery).await).await;
    assert_eq!(status, 200);
    assert!(ack["outcome"] == "stored" || ack["outcome"] == "duplicate", "{ack}");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.deliver(&app.meeting_ended()).await;
    assert!(response.headers().get("x-request-id").is_some_and(|v| !v.is_empty()));
    let response = app
        .http
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "caller-chosen")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.headers()["x-request-id"], "caller-chosen");
    let (status, body) = status_and_json(response).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}
