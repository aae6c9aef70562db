//! Talking to Cloudflare, against the local fake: webhook registration at start, ending a session from the
//! backend, the client's retries, and reconciliation.

use std::time::{Duration, Instant};

use chrono::{Duration as TimeDelta, Utc};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::cloudflare_fake::{
    APP, FORBIDDEN_TOKEN, FakeCloudflare, GOOD_TOKEN, OUR_WEBHOOK_URL, PUBLIC_URL, cloudflare_error, rtk_error,
};
use crate::helpers::{API_TOKEN, TestApp, spawn_app_with, status_and_json};
use rtk_sessions::reconcile_sweep;

async fn spawn_with_fake(fake: &FakeCloudflare) -> TestApp {
    spawn_app_with(|s| fake.configure(s)).await
}

async fn registered_webhook_id(app: &TestApp) -> String {
    let readiness = app
        .wait_until(|r| r["checks"]["registration"]["state"] == "registered")
        .await;
    readiness["checks"]["registration"]["webhook_id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// What registration subscribes to by default: the end of a session and the four events of its artifacts.
const DEFAULT_EVENTS: [&str; 9] = [
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
];

fn writes(fake: &FakeCloudflare) -> Vec<(String, String)> {
    fake.calls().into_iter().filter(|(method, _)| method != "GET").collect()
}

#[tokio::test]
async fn the_webhook_is_created_when_absent_and_recorded() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_with_fake(&fake).await;

    let id = registered_webhook_id(&app).await;

    let webhooks = fake.webhooks();
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0]["id"], id);
    assert_eq!(webhooks[0]["url"], OUR_WEBHOOK_URL);
    assert_eq!(webhooks[0]["name"], "rtk-sessions");
    assert_eq!(webhooks[0]["events"], json!(DEFAULT_EVENTS));
    assert_eq!(webhooks[0]["enabled"], true);
    let (stored_id, outcome): (Option<String>, String) =
        sqlx::query_as("SELECT webhook_id, outcome FROM webhook_registrations")
            .fetch_one(&app.db)
            .await
            .expect("row");
    assert_eq!((stored_id.as_deref(), outcome.as_str()), (Some(id.as_str()), "created"));
    let (status, _) = app.readiness().await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_webhook_that_is_already_right_is_left_unchanged() {
    let fake = FakeCloudflare::start().await;
    let id = fake.add_webhook("rtk-sessions", OUR_WEBHOOK_URL, &DEFAULT_EVENTS, true);
    let app = spawn_with_fake(&fake).await;

    assert_eq!(registered_webhook_id(&app).await, id);
    assert!(writes(&fake).is_empty(), "nothing written: {:?}", fake.calls());
}

#[tokio::test]
async fn a_webhook_with_our_url_but_other_settings_is_updated_not_duplicated() {
    let fake = FakeCloudflare::start().await;
    let id = fake.add_webhook("old name", &format!("{OUR_WEBHOOK_URL}/"), &["meeting.started"], false);
    let app = spawn_with_fake(&fake).await;

    assert_eq!(registered_webhook_id(&app).await, id);
    let webhooks = fake.webhooks();
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0]["name"], "rtk-sessions");
    assert_eq!(webhooks[0]["events"], json!(DEFAULT_EVENTS));
    assert_eq!(webhooks[0]["enabled"], true);
    assert_eq!(writes(&fake), vec![("PATCH".to_owned(), format!("webhooks/{id}"))]);
}

#[tokio::test]
async fn our_webhook_at_an_old_url_is_moved_and_foreign_webhooks_are_never_touched() {
    let fake = FakeCloudflare::start().await;
    let foreign = fake.add_webhook("billing", "https://billing.example.com/hook", &["meeting.ended"], true);
    let ours = fake.add_webhook(
        "rtk-sessions",
        "https://old.example.com/webhooks/realtimekit",
        &["meeting.ended"],
        true,
    );
    let app = spawn_with_fake(&fake).await;

    assert_eq!(registered_webhook_id(&app).await, ours);
    let webhooks = fake.webhooks();
    assert_eq!(webhooks.len(), 2);
    let moved = webhooks.iter().find(|w| w["id"] == ours).expect("ours");
    assert_eq!(moved["url"], OUR_WEBHOOK_URL);
    let untouched = webhooks.iter().find(|w| w["id"] == foreign).expect("foreign");
    assert_eq!(untouched["url"], "https://billing.example.com/hook");
    assert_eq!(writes(&fake), vec![("PATCH".to_owned(), format!("webhooks/{ours}"))]);
}

#[tokio::test]
async fn two_instances_starting_together_over_one_database_make_exactly_one_webhook() {
    let fake = FakeCloudflare::start().await;
    let first = spawn_app_with(|s| fake.configure(s)).await;
    let database_url = {
        let mut url = reqwest::Url::parse(
            &std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        )
        .expect("url");
        url.set_path(&format!("/{}", first.db_name));
        url.to_string()
    };
    let mut settings = crate::helpers::test_settings();
    fake.configure(&mut settings);
    settings.database.url = rtk_sessions::Secret::new(database_url);
    let second = crate::helpers::start(settings).await;

    let (a, b) = tokio::join!(registered_webhook_id(&first), registered_webhook_id(&second));

    assert_eq!(a, b);
    assert_eq!(fake.webhooks().len(), 1);
    let creates = writes(&fake).iter().filter(|(m, _)| m == "POST").count();
    assert_eq!(creates, 1);
    std::mem::forget(second); // shares the first app's database, which the first drops
}

#[tokio::test]
async fn missing_credentials_or_public_url_skip_registration_with_the_keys_to_set() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.server.public_url = None;
        s.realtimekit.api_token = Default::default();
    })
    .await;

    let readiness = app
        .wait_until(|r| r["checks"]["registration"]["state"] == "disabled")
        .await;
    let reason = readiness["checks"]["registration"]["detail"].as_str().expect("reason");
    assert!(
        reason.contains("server.public_url") && reason.contains("realtimekit.api_token"),
        "{reason}"
    );
    assert_eq!(
        readiness["status"], "ready",
        "registration never makes the service unready"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_refused_token_fails_registration_naming_the_permission_without_a_tight_retry_loop() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.realtimekit.api_token = rtk_sessions::Secret::new(FORBIDDEN_TOKEN);
    })
    .await;

    let readiness = app
        .wait_until(|r| r["checks"]["registration"]["state"] == "failed")
        .await;
    let reason = readiness["checks"]["registration"]["detail"].as_str().expect("reason");
    assert!(reason.contains("Realtime Admin or Realtime"), "{reason}");
    assert!(!reason.contains(FORBIDDEN_TOKEN), "the token is never shown");
    assert_eq!(readiness["status"], "ready");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.calls().len(), 1, "a 403 is not retried in a tight loop");
}

#[tokio::test]
async fn registration_retries_through_server_errors_until_it_succeeds() {
    let fake = FakeCloudflare::start().await;
    // Enough failures to exhaust one attempt's in-call retries, so the background loop must try again.
    fake.script((0..5).map(|_| rtk_error(500, "INTERNAL_SERVER_ERROR")));
    let app = spawn_with_fake(&fake).await;

    registered_webhook_id(&app).await;
    assert_eq!(fake.webhooks().len(), 1);
}

#[tokio::test]
async fn the_client_retries_500_and_honours_retry_after_on_429() {
    let fake = FakeCloudflare::start().await;
    fake.add_webhook("x", "https://x.example.com", &["meeting.ended"], true);
    fake.script([
        rtk_error(500, "INTERNAL_SERVER_ERROR"),
        rtk_error(429, "TOO_MANY_REQUESTS").insert_header("retry-after", "1"),
    ]);
    let client = fake.client(GOOD_TOKEN);

    let started = Instant::now();
    let webhooks = client.list_webhooks().await.expect("succeeds on the third try");

    assert_eq!(webhooks.len(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for retry-after");
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn a_create_is_not_repeated_after_a_server_error_but_is_after_a_429() {
    let fake = FakeCloudflare::start().await;
    let client = fake.client(GOOD_TOKEN);
    let spec = rtk_sessions::WebhookSpec {
        name: "n".into(),
        url: "https://n.example.com".into(),
        events: vec!["meeting.ended".into()],
        enabled: true,
    };
    fake.script([rtk_error(500, "INTERNAL_SERVER_ERROR")]);
    let error = client.create_webhook(&spec).await.expect_err("not repeated");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(fake.calls().len(), 1);

    fake.script([rtk_error(429, "TOO_MANY_REQUESTS").insert_header("retry-after", "0")]);
    client.create_webhook(&spec).await.expect("repeated after a 429");
    assert_eq!(fake.webhooks().len(), 1);
}

#[tokio::test]
async fn every_error_envelope_is_decoded_with_status_code_and_message() {
    let fake = FakeCloudflare::start().await;
    let client = fake.client(GOOD_TOKEN);
    fake.script([
        rtk_error(400, "BAD_REQUEST: \"name\" is required"),
        cloudflare_error(401, 10000, "Authentication error"),
        ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthorized"})),
        ResponseTemplate::new(404).set_body_string("not json at all"),
    ]);
    let expected = [
        (400, Some("400"), "BAD_REQUEST: \"name\" is required"),
        (401, Some("10000"), "Authentication error"),
        (401, None, "Unauthorized"),
        (404, None, "not json at all"),
    ];
    for (status, code, message) in expected {
        let error = client.get_webhook("some-id").await.expect_err("an error");
        match &error {
            rtk_sessions::ApiError::Status {
                status: s,
                code: c,
                message: m,
                raw_body,
                ..
            } => {
                assert_eq!((s.as_u16(), c.as_deref(), m.as_str()), (status, code, message));
                assert!(!raw_body.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn session_details_are_read_flat_or_wrapped_and_participants_are_paged() {
    let fake = FakeCloudflare::start().await;
    let client = fake.client(GOOD_TOKEN);
    let details = json!({"id": "s-1", "associated_id": "m-1", "status": "ENDED", "minutes_consumed": "12.5",
                         "max_concurrent_participants": 3, "ended_at": "2026-06-03T10:30:00Z"});
    fake.script([
        ResponseTemplate::new(200).set_body_json(json!({"success": true, "data": details})),
        ResponseTemplate::new(200).set_body_json(json!({"success": true, "data": {"session": details}})),
    ]);
    for _ in 0..2 {
        let session = client.get_session("s-1").await.expect("session");
        assert_eq!(
            (session.id.as_str(), session.associated_id.as_deref()),
            ("s-1", Some("m-1"))
        );
        assert_eq!(session.minutes_consumed, Some(12.5));
    }

    let participant = |i: usize| json!({"id": format!("p-{i}"), "display_name": format!("P{i}"), "duration": 3.5});
    let page = |range: std::ops::Range<usize>| range.map(participant).collect::<Vec<_>>();
    fake.script([
        ResponseTemplate::new(200).set_body_json(
            json!({"success": true, "data": {"participants": page(0..100), "paging": {"total_count": 130}}}),
        ),
        ResponseTemplate::new(200).set_body_json(json!({"success": true, "data": {"participants": page(100..130)}})),
    ]);
    let participants = client.list_session_participants("s-1").await.expect("participants");
    assert_eq!(participants.len(), 130);
    assert_eq!(participants[129].id.as_deref(), Some("p-129"));
}

// ---- ending a session from the backend ----

async fn end(app: &TestApp, meeting_id: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/meetings/{meeting_id}/end", app.address))
        .bearer_auth(API_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_and_json(request.send().await.expect("answers")).await
}

fn meeting_calls(fake: &FakeCloudflare) -> Vec<(String, String)> {
    fake.calls()
        .into_iter()
        .filter(|(_, path)| path.starts_with("meetings/"))
        .collect()
}

fn call(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

#[tokio::test]
async fn ending_a_session_kicks_everyone_and_disable_first_makes_the_meeting_inactive() {
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.meetings.insert("m-1".into(), "ACTIVE".into());
        s.active_sessions.insert("m-1".into(), 3);
        s.meetings.insert("m-2".into(), "ACTIVE".into());
        s.active_sessions.insert("m-2".into(), 5);
    });
    let app = spawn_with_fake(&fake).await;

    let (status, answer) = end(&app, "m-1", None).await;
    assert_eq!(
        (status, answer),
        (200, json!({"kicked_participants_count": 3, "disabled": false}))
    );
    assert_eq!(
        meeting_calls(&fake),
        vec![call("POST", "meetings/m-1/active-session/kick-all")]
    );
    assert_eq!(fake.with(|s| s.meetings["m-1"].clone()), "ACTIVE");

    let (status, answer) = end(&app, "m-2", Some(json!({"disable": true}))).await;
    assert_eq!(
        (status, answer),
        (200, json!({"kicked_participants_count": 5, "disabled": true}))
    );
    assert_eq!(
        meeting_calls(&fake)[1..],
        [
            call("PATCH", "meetings/m-2"),
            call("POST", "meetings/m-2/active-session/kick-all")
        ],
        "disable first, then kick"
    );
    assert_eq!(fake.with(|s| s.meetings["m-2"].clone()), "INACTIVE");
}

#[tokio::test]
async fn ending_without_an_active_session_is_a_409_that_says_whether_the_meeting_was_disabled() {
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.meetings.insert("idle".into(), "ACTIVE".into());
    });
    let app = spawn_with_fake(&fake).await;

    let (status, error) = end(&app, "idle", Some(json!({}))).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("no_active_session"))
    );
    assert!(
        !error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("disabled")
    );
    assert_eq!(
        meeting_calls(&fake),
        [
            call("POST", "meetings/idle/active-session/kick-all"),
            call("GET", "meetings/idle")
        ]
    );

    let (status, error) = end(&app, "idle", Some(json!({"disable": true}))).await;
    assert_eq!(status, 409);
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("disabled")
    );
    assert_eq!(fake.with(|s| s.meetings["idle"].clone()), "INACTIVE");
}

#[tokio::test]
async fn ending_an_unknown_meeting_is_a_404() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_with_fake(&fake).await;

    let (status, error) = end(&app, "ghost", None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(
        meeting_calls(&fake),
        [
            call("POST", "meetings/ghost/active-session/kick-all"),
            call("GET", "meetings/ghost")
        ]
    );

    let (status, _) = end(&app, "ghost", Some(json!({"disable": true}))).await;
    assert_eq!(status, 404);
    assert_eq!(
        meeting_calls(&fake).last(),
        Some(&call("PATCH", "meetings/ghost")),
        "stops at the failed disable"
    );
}

#[tokio::test]
async fn a_refused_token_is_a_502_naming_the_permission_and_cloudflare_down_is_a_503() {
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.meetings.insert("m".into(), "ACTIVE".into());
        s.active_sessions.insert("m".into(), 1);
    });
    let refused = spawn_app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.realtimekit.api_token = rtk_sessions::Secret::new("wrong");
    })
    .await;
    let (status, error) = end(&refused, "m", None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (502, Some("realtimekit_unauthorized"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("Realtime Admin or Realtime")
    );

    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
    })
    .await;
    fake.script([rtk_error(503, "SERVICE_UNAVAILABLE")]);
    let response = app
        .http
        .post(format!("{}/meetings/m/end", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        fake.with(|s| s.active_sessions.get("m").copied()),
        Some(1),
        "nothing was kicked"
    );
}

#[tokio::test]
async fn ending_needs_the_bearer_token_and_configured_credentials() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_with_fake(&fake).await;
    let response = app
        .http
        .post(format!("{}/meetings/m/end", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 401);

    let unconfigured = crate::helpers::spawn_app().await;
    let (status, error) = end(&unconfigured, "m", None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (503, Some("realtimekit_not_configured"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("realtimekit.account_id")
    );
}

// ---- reconciliation ----

fn api_session(i: usize, ended: chrono::DateTime<Utc>) -> Value {
    json!({
        "id": format!("reconcile-session-{i:03}"), "associated_id": format!("meeting-{}", i % 5),
        "meeting_display_name": "Standup", "type": "meeting", "status": "ENDED",
        "organization_id": APP, "minutes_consumed": 10.0,
        "created_at": (ended - TimeDelta::minutes(30)).to_rfc3339(),
        "started_at": (ended - TimeDelta::minutes(30)).to_rfc3339(),
        "ended_at": ended.to_rfc3339(), "updated_at": ended.to_rfc3339()
    })
}

async fn deliver_ended(app: &TestApp, session_id: &str, meeting_id: &str, ended: chrono::DateTime<Utc>) -> Value {
    let body = json!({"event": "meeting.ended", "meeting": {"id": meeting_id, "sessionId": session_id, "endedAt": ended.to_rfc3339(), "organizedBy": {"id": APP}}, "reason": "HOST_ENDED_MEETING"});
    let (status, ack) = status_and_json(app.deliver(&app.signed(serde_json::to_vec(&body).expect("json"))).await).await;
    assert_eq!(status, 200);
    ack
}

async fn reconciliation_records_exactly_the_missing_sessions(paging: bool) {
    let fake = FakeCloudflare::start().await;
    let ended = Utc::now() - TimeDelta::hours(1);
    fake.with(|s| {
        s.paging = paging;
        s.sessions = (0..250).map(|i| api_session(i, ended)).collect();
        s.sessions
            .push(json!({"id": "still-live", "associated_id": "m", "status": "LIVE"}));
    });
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
    })
    .await;
    // Every third session was delivered as usual.
    for i in (0..250).step_by(3) {
        deliver_ended(
            &app,
            &format!("reconcile-session-{i:03}"),
            &format!("meeting-{}", i % 5),
            ended,
        )
        .await;
    }
    let delivered = app.count("sessions").await;
    assert_eq!(delivered, 84);

    let report = reconcile_sweep(
        &app.db,
        &fake.clients(GOOD_TOKEN),
        None,
        Utc::now() - TimeDelta::hours(24),
        &Default::default(),
        0,
    )
    .await
    .expect("sweep");

    assert!(report.ran);
    assert_eq!((report.listed, report.recorded, report.already_known), (250, 166, 84));
    assert_eq!(app.count("sessions").await, 250);
    let reconciled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE source = 'reconciliation' AND delivery_id IS NULL")
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(reconciled, 166);
    let queries: Vec<String> = fake
        .calls_with_query()
        .into_iter()
        .filter(|(_, p, _)| p == "sessions")
        .map(|(_, _, q)| q)
        .collect();
    assert_eq!(queries.len(), 3, "three pages of 100: {queries:?}");
    assert!(
        queries
            .iter()
            .all(|q| q.contains("status=ENDED") && q.contains("start_time="))
    );

    // A delivery arriving afterwards for a reconciled session is a duplicate.
    let ack = deliver_ended(&app, "reconcile-session-001", "meeting-1", ended).await;
    assert_eq!(ack["outcome"], "duplicate");
    let (_, session) = status_and_json(app.get_session("reconcile-session-001").await).await;
    assert_eq!(session["source"], "reconciliation");
    assert_eq!(session["meeting_title"], "Standup");
    assert_eq!(session["duration_seconds"], 1800);

    // A second sweep finds nothing new.
    let again = reconcile_sweep(
        &app.db,
        &fake.clients(GOOD_TOKEN),
        None,
        Utc::now() - TimeDelta::hours(24),
        &Default::default(),
        0,
    )
    .await
    .expect("sweep");
    assert_eq!((again.recorded, again.already_known), (0, 250));
}

#[tokio::test]
async fn reconciliation_records_exactly_the_missing_sessions_across_pages() {
    reconciliation_records_exactly_the_missing_sessions(true).await;
}

#[tokio::test]
async fn reconciliation_pages_until_a_short_page_when_paging_is_absent() {
    reconciliation_records_exactly_the_missing_sessions(false).await;
}

#[tokio::test]
async fn the_periodic_sweep_runs_at_start_when_enabled() {
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.sessions = (0..3)
            .map(|i| api_session(i, Utc::now() - TimeDelta::hours(2)))
            .collect()
    });
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.reconcile.enabled = true;
    })
    .await;

    for _ in 0..100 {
        if app.count("sessions").await == 3 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sweep did not record the sessions; calls: {:?}", fake.calls());
}

#[tokio::test]
async fn the_public_url_decides_the_webhook_url() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.server.public_url = Some(format!("{PUBLIC_URL}/").parse().expect("a URL"));
    })
    .await;
    registered_webhook_id(&app).await;
    assert_eq!(fake.webhooks()[0]["url"], OUR_WEBHOOK_URL);
}

#[tokio::test]
async fn registration_holds_its_lock_without_an_open_transaction_across_cloudflare_calls() {
    let fake = FakeCloudflare::start().await;
    // Cloudflare is slow and failing at first: the client retries while the lock is held. The connection that holds
    // it must not be in a transaction meanwhile; another connection may be, between the statements of a short one
    // of its own (the Cloudflare budget's, say).
    fake.script([
        cloudflare_error(503, 10000, "unavailable").set_delay(Duration::from_millis(800)),
        cloudflare_error(503, 10000, "unavailable").set_delay(Duration::from_millis(800)),
    ]);
    let app = spawn_app_with(|s| fake.configure(s)).await;

    let mut saw_lock = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let (locks, in_transaction): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database =
                        (SELECT oid FROM pg_database WHERE datname = current_database())),
                    (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database()
                        AND a.application_name = 'rtk-sessions' AND a.state LIKE 'idle in transaction%'
                        AND EXISTS (SELECT 1 FROM pg_locks l
                                    WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted))",
        )
        .fetch_one(&app.db)
        .await
        .expect("activity");
        saw_lock |= locks > 0;
        assert_eq!(in_transaction, 0, "no transaction stays open while Cloudflare answers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_lock, "registration ran under its advisory lock");
    registered_webhook_id(&app).await;
    assert_eq!(fake.webhooks().len(), 1);
}
