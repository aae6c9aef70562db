//! The follow-up queue and the built-in follow-ups, against real Postgres, a local receiving server and the
//! Cloudflare fake. Tests drive the queue with `run_pending_jobs()` rather than by sleeping.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rtk_sessions::{FollowupKind, FollowupSettings, Settings, WAKE_CHANNEL, WORKER_WAKE_INTERVAL};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cloudflare_fake::FakeCloudflare;
use crate::helpers::{API_TOKEN, TestApp, spawn_app_with, status_and_json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn followup(kind: FollowupKind, name: Option<&str>, options: Value) -> FollowupSettings {
    FollowupSettings {
        name: name.map(str::to_owned),
        ..FollowupSettings::new(kind, options.as_object().cloned().unwrap_or_default())
    }
}

fn webhook_to(server: &MockServer) -> FollowupSettings {
    followup(
        FollowupKind::Webhook,
        None,
        json!({"url": format!("{}/hook", server.uri()), "secret": SECRET}),
    )
}

/// An app that queues follow-ups but leaves running them to the test.
async fn app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.worker.enabled = false;
        configure(s);
    })
    .await
}

async fn record_one_session(app: &TestApp) -> String {
    let (status, ack) = status_and_json(app.deliver(&app.meeting_ended()).await).await;
    assert_eq!((status, ack["outcome"].as_str()), (200, Some("stored")));
    ack["session_id"].as_str().expect("session id").to_owned()
}

fn received(requests: &[wiremock::Request]) -> Vec<&wiremock::Request> {
    requests.iter().filter(|r| r.url.path() == "/hook").collect()
}

/// The Standard Webhooks check, written independently of the service's own signing code.
fn standard_webhooks_signature_is_valid(request: &wiremock::Request) -> bool {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = STANDARD.decode(SECRET.trim_start_matches("whsec_")).expect("key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|candidate| candidate == expected)
}

#[tokio::test]
async fn a_new_session_gets_one_job_per_enabled_followup_and_duplicates_add_none() {
    let receiver = MockServer::start().await;
    let app = app_with(|s| {
        s.followups = vec![
            webhook_to(&receiver),
            followup(
                FollowupKind::Slack,
                None,
                json!({"url": format!("{}/slack", receiver.uri())}),
            ),
            FollowupSettings {
                enabled: false,
                ..followup(
                    FollowupKind::Webhook,
                    Some("disabled-one"),
                    json!({"url": "https://x.example.com", "secret": SECRET}),
                )
            },
        ];
    })
    .await;
    let delivery = app.meeting_ended();
    assert_eq!(app.deliver(&delivery).await.status(), 200);

    let names: Vec<String> = app.jobs().await.into_iter().map(|j| j.1).collect();
    assert_eq!(names, ["webhook", "slack"]);

    // A retry of the delivery, and a new delivery of the same session: no new jobs.
    assert_eq!(app.deliver(&delivery).await.status(), 200);
    let mut again = app.signed(delivery.body.clone());
    again.delivery_id = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.deliver(&again).await.status(), 200);
    assert_eq!(app.jobs().await.len(), 2);
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_notification_three_times_with_one_webhook_id() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let app = app_with(|s| s.followups = vec![webhook_to(&receiver)]).await;
    let session_id = record_one_session(&app).await;

    for _ in 0..3 {
        assert_eq!(app.run_pending_jobs().await, 1);
        app.make_jobs_due().await;
    }
    assert_eq!(app.run_pending_jobs().await, 0, "nothing left to do");

    let requests = receiver.received_requests().await.expect("recorded");
    let hooks = received(&requests);
    assert_eq!(hooks.len(), 3);
    let ids: Vec<&str> = hooks
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().expect("ascii"))
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one webhook-id across retries: {ids:?}"
    );
    assert!(
        hooks.iter().all(|r| standard_webhooks_signature_is_valid(r)),
        "every signature verifies"
    );
    let body: Value = serde_json::from_slice(&hooks[2].body).expect("json");
    assert_eq!(body["type"], "session.ended");
    assert_eq!(body["data"]["session_id"], session_id);
    let jobs = app.jobs().await;
    assert_eq!((jobs[0].2.as_str(), jobs[0].3), ("succeeded", 3));
}

#[tokio::test]
async fn a_4xx_is_permanent_but_408_and_429_are_retried() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(408))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(410).set_body_string("gone for good"))
        .mount(&receiver)
        .await;
    let app = app_with(|s| s.followups = vec![webhook_to(&receiver)]).await;
    record_one_session(&app).await;

    for expected in ["queued", "queued", "dead"] {
        app.run_pending_jobs().await;
        app.make_jobs_due().await;
        assert_eq!(app.jobs().await[0].2, expected);
    }
    let (_, _, _, attempts, error) = app.jobs().await.remove(0);
    assert_eq!(attempts, 3);
    assert!(error.is_some_and(|e| e.contains("410") && e.contains("gone for good")));
}

#[tokio::test]
async fn after_max_attempts_a_job_is_dead_and_retry_brings_it_back() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let app = app_with(|s| {
        s.followups = vec![webhook_to(&receiver)];
        s.worker.max_attempts = std::num::NonZero::new(2).expect("above 0");
    })
    .await;
    let session_id = record_one_session(&app).await;
    for _ in 0..2 {
        app.run_pending_jobs().await;
        app.make_jobs_due().await;
    }
    let (id, _, status, attempts, error) = app.jobs().await.remove(0);
    assert_eq!((status.as_str(), attempts), ("dead", 2));
    assert!(error.is_some_and(|e| e.contains("500")));
    assert_eq!(app.run_pending_jobs().await, 0, "a dead job is not run again by itself");

    let dead = app.get_authorized("/followups?status=dead").await;
    let (_, page) = status_and_json(dead).await;
    assert_eq!(page["data"][0]["id"], id);
    let response = app
        .http
        .post(format!("{}/followups/{id}/retry", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    let (status, job) = status_and_json(response).await;
    assert_eq!(
        (status, job["status"].as_str(), job["attempts"].as_i64()),
        (200, Some("queued"), Some(0))
    );

    assert_eq!(app.run_pending_jobs().await, 1);
    let (_, session) = status_and_json(app.get_session(&session_id).await).await;
    assert_eq!(session["followups"][0]["status"], "succeeded");
    assert_eq!(session["followups"][0]["followup"], "webhook");
    // Its attempts are numbered over its whole life, the retry's included: #1, #2 failed, #3 succeeded.
    let numbered: Vec<(i32, String)> =
        sqlx::query_as("SELECT attempt, outcome FROM followup_attempts WHERE job_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .expect("attempts");
    let expected = [(1, "failed"), (2, "failed"), (3, "succeeded")].map(|(n, o)| (n, o.to_owned()));
    assert_eq!(numbered, expected);

    let response = app
        .http
        .post(format!("{}/followups/{id}/retry", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 409, "a succeeded job is not retried");
    let response = app
        .http
        .post(format!("{}/followups/999999/retry", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_job_whose_worker_died_mid_run_is_completed_by_another_worker_after_the_lease() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let app = app_with(|s| s.followups = vec![webhook_to(&receiver)]).await;
    record_one_session(&app).await;
    // A worker claims the job and dies: its lease (zero seconds here) runs out without an outcome.
    let claimed = rtk_sessions::claim_jobs(&app.db, rtk_sessions::JobSlots::Others, 10, 0.0)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(app.jobs().await[0].2, "running");

    assert_eq!(app.run_pending_jobs().await, 1, "another worker takes it over");

    let (_, _, status, attempts, _) = app.jobs().await.remove(0);
    assert_eq!((status.as_str(), attempts), ("succeeded", 2));
    // The dead worker's late outcome cannot overwrite the new owner's.
    let recorded = rtk_sessions::fail_job(&app.db, &claimed[0], "late", None)
        .await
        .expect("update");
    assert!(!recorded);
    assert_eq!(app.jobs().await[0].2, "succeeded");
}

#[tokio::test]
async fn two_workers_over_one_database_never_run_the_same_job() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(50)))
        .mount(&receiver)
        .await;
    let app = app_with(|s| {
        s.followups = vec![webhook_to(&receiver)];
        s.worker.concurrency = std::num::NonZero::new(3).expect("above 0");
    })
    .await;
    for _ in 0..24 {
        record_one_session(&app).await;
    }
    let (first, second) = (app.worker(), app.worker());

    let (a, b) = tokio::join!(first.run_pending(), second.run_pending());

    let (a, b) = (a.expect("runs"), b.expect("runs"));
    assert_eq!(a + b, 24);
    assert!(a > 0 && b > 0, "both workers took part: {a} + {b}");
    let requests = receiver.received_requests().await.expect("recorded");
    let mut ids: Vec<String> = received(&requests)
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().expect("id").to_owned())
        .collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (24, 24), "each job delivered exactly once");
    assert!(app.jobs().await.iter().all(|j| j.2 == "succeeded" && j.3 == 1));
}

#[tokio::test]
async fn the_worker_in_serve_wakes_on_notify_and_shutdown_leaves_no_job_running() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/fast"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&receiver)
        .await;
    let mut app = spawn_app_with(|s| {
        s.followups = vec![
            followup(
                FollowupKind::Webhook,
                Some("fast"),
                json!({"url": format!("{}/fast", receiver.uri()), "secret": SECRET}),
            ),
            followup(
                FollowupKind::Webhook,
                Some("slow"),
                json!({"url": format!("{}/slow", receiver.uri()), "secret": SECRET}),
            ),
        ];
        // Polling alone would take a minute: only NOTIFY can make the fast job run within the test.
        s.worker.poll_interval = std::time::Duration::from_secs(60);
        s.server.shutdown_grace = std::time::Duration::from_secs(1);
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the worker starts listening
    record_one_session(&app).await;

    let mut fast_done = false;
    for _ in 0..100 {
        let jobs = app.jobs().await;
        if jobs.iter().any(|j| j.1 == "fast" && j.2 == "succeeded")
            && jobs.iter().any(|j| j.1 == "slow" && j.2 == "running")
        {
            fast_done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fast_done, "the fast job ran at once: {:?}", app.jobs().await);

    app.stop().await.expect("a clean stop");

    let jobs = app.jobs().await;
    assert!(jobs.iter().all(|j| j.2 != "running"), "nothing left running: {jobs:?}");
    let slow = jobs.iter().find(|j| j.1 == "slow").expect("slow job");
    assert_eq!(
        (slow.2.as_str(), slow.3),
        ("queued", 0),
        "handed back, the interrupted attempt not counted"
    );
}

/// The jobs' wake-up is sent after their commit, and at most once every `WORKER_WAKE_INTERVAL` from one service:
/// two hundred deliveries committed one by one (`batch_max = 1`) wake the workers a few times, not two hundred. A
/// `NOTIFY` inside each ingest transaction would make Postgres serialize the commits of every writer and replica.
#[tokio::test]
async fn a_burst_of_deliveries_wakes_the_workers_a_few_times_after_their_commits_not_once_a_commit() {
    let app = app_with(|s| {
        s.followups = vec![followup(
            FollowupKind::Webhook,
            None,
            json!({"url": "http://127.0.0.1:9/hook", "secret": SECRET}),
        )];
        s.ingest.batch_max = std::num::NonZero::new(1).expect("above 0");
    })
    .await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.db)
        .await
        .expect("listener");
    listener.listen(WAKE_CHANNEL).await.expect("listen");
    let started = Instant::now();

    let deliveries: Vec<_> = (0..200).map(|_| app.meeting_ended()).collect();
    for chunk in deliveries.chunks(20) {
        for response in futures_util::future::join_all(chunk.iter().map(|d| app.deliver(d))).await {
            assert_eq!(response.status(), 200);
        }
    }
    let mut wakeups = 0;
    while tokio::time::timeout(WORKER_WAKE_INTERVAL * 3, listener.recv())
        .await
        .is_ok()
    {
        wakeups += 1;
    }
    let elapsed = started.elapsed();

    assert_eq!(app.count("followup_jobs").await, 200, "a job per session");
    let most = (elapsed.as_millis() / WORKER_WAKE_INTERVAL.as_millis()) as usize + 1;
    assert!(
        (1..=most).contains(&wakeups),
        "{wakeups} wake-ups for 200 commits in {elapsed:?}: at least one, at most {most}"
    );
}

#[tokio::test]
async fn slack_gets_a_readable_message_with_participants_when_a_report_knows_them() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/slack"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let fake = FakeCloudflare::start().await;
    let app = app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.followups = vec![
            followup(FollowupKind::Report, None, json!({})),
            followup(
                FollowupKind::Slack,
                None,
                json!({"url": format!("{}/slack", receiver.uri())}),
            ),
        ];
        // One at a time, in order: the report is there when the message is written.
        s.worker.concurrency = std::num::NonZero::new(1).expect("above 0");
    })
    .await;
    let session_id = record_one_session(&app).await;
    serve_session_to_fake(&fake, &session_id).await;

    app.run_pending_jobs().await;

    let requests = receiver.received_requests().await.expect("recorded");
    let body: Value = serde_json::from_slice(&requests[0].body).expect("json");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.contains("Weekly sync") && text.contains("30m 00s") && text.contains("everyone left"),
        "{text}"
    );
    assert!(text.contains("2 participants: Mary Sue, Sam"), "{text}");
}

pub(crate) async fn serve_session_to_fake(fake: &FakeCloudflare, session_id: &str) {
    use wiremock::matchers::path_regex;
    let details = json!({"success": true, "data": {
        "id": session_id, "associated_id": "m", "meeting_display_name": "Weekly sync", "status": "ENDED",
        "minutes_consumed": 55.5, "max_concurrent_participants": 2,
        "started_at": "2026-06-03T10:00:00Z", "ended_at": "2026-06-03T10:30:00Z"}});
    let participants = json!({"success": true, "data": {"participants": [
        {"id": "p1", "display_name": "Mary Sue", "custom_participant_id": "user-123", "joined_at": "2026-06-03T10:00:00Z", "left_at": "2026-06-03T10:30:00Z", "duration": 30.0},
        {"id": "p2", "display_name": "Sam", "custom_participant_id": "user-456", "joined_at": "2026-06-03T10:05:00Z", "left_at": "2026-06-03T10:25:30Z"}
    ]}});
    Mock::given(method("GET"))
        .and(path_regex(format!("/sessions/{session_id}/participants$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(participants))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("/sessions/{session_id}$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(details))
        .with_priority(1)
        .mount(&fake.server)
        .await;
}

#[tokio::test]
async fn the_report_is_stored_and_served_as_json_and_html_and_an_unknown_session_is_retried() {
    let fake = FakeCloudflare::start().await;
    let app = app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.followups = vec![followup(FollowupKind::Report, None, json!({}))];
    })
    .await;
    let session_id = record_one_session(&app).await;

    // The Sessions API does not know the session yet (eventual consistency): retried, not failed.
    app.run_pending_jobs().await;
    let (_, _, status, _, error) = app.jobs().await.remove(0);
    assert_eq!(status, "queued");
    assert!(error.is_some_and(|e| e.contains("does not know the session yet")));
    let (status, _) = status_and_json(app.get_authorized(&format!("/sessions/{session_id}/report")).await).await;
    assert_eq!(status, 404);

    serve_session_to_fake(&fake, &session_id).await;
    app.make_jobs_due().await;
    app.run_pending_jobs().await;

    let (status, report) = status_and_json(app.get_authorized(&format!("/sessions/{session_id}/report")).await).await;
    assert_eq!(status, 200);
    assert_eq!(report["participant_count"], 2);
    assert_eq!(report["participants"][0]["name"], "Mary Sue");
    assert_eq!(report["participants"][0]["custom_participant_id"], "user-123");
    assert_eq!(report["participants"][0]["minutes"], 30.0);
    assert_eq!(
        report["participants"][1]["minutes"], 20.5,
        "computed from joined and left"
    );
    assert_eq!(report["total_participant_minutes"], 50.5);
    assert_eq!(report["peak_concurrency"], 2);
    assert_eq!(report["minutes_consumed"], 55.5);

    let html = app
        .http
        .get(format!("{}/sessions/{session_id}/report", app.address))
        .bearer_auth(API_TOKEN)
        .header("accept", "text/html,application/xhtml+xml,*/*")
        .send()
        .await
        .expect("answers");
    assert!(
        html.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let page = html.text().await.expect("body");
    assert!(page.contains("Mary Sue") && page.contains("Peak concurrency"));
}

#[tokio::test]
async fn disable_meeting_sets_the_meeting_inactive_and_is_idempotent() {
    let fake = FakeCloudflare::start().await;
    let app = app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.followups = vec![followup(FollowupKind::DisableMeeting, None, json!({}))];
    })
    .await;
    let body = |session: &str| {
        serde_json::to_vec(&json!({"event": "meeting.ended", "meeting": {"id": "m-9", "sessionId": session, "endedAt": "2026-06-03T10:30:00Z",
            "organizedBy": {"id": crate::cloudflare_fake::APP}}}))
            .expect("json")
    };
    fake.with(|s| {
        s.meetings.insert("m-9".into(), "ACTIVE".into());
    });
    assert_eq!(app.deliver(&app.signed(body("first"))).await.status(), 200);
    app.run_pending_jobs().await;
    assert_eq!(fake.with(|s| s.meetings["m-9"].clone()), "INACTIVE");

    // A second session of the same meeting: already inactive, still a success.
    assert_eq!(app.deliver(&app.signed(body("second"))).await.status(), 200);
    app.run_pending_jobs().await;
    assert!(
        app.jobs().await.iter().all(|j| j.2 == "succeeded"),
        "{:?}",
        app.jobs().await
    );
    let patches = fake
        .calls()
        .into_iter()
        .filter(|(m, p)| m == "PATCH" && p == "meetings/m-9")
        .count();
    assert_eq!(patches, 2);
}

#[tokio::test]
async fn followups_are_listed_filtered_and_paged_behind_the_token() {
    let receiver = MockServer::start().await;
    let app = app_with(|s| s.followups = vec![webhook_to(&receiver)]).await;
    let first = record_one_session(&app).await;
    for _ in 0..4 {
        record_one_session(&app).await;
    }

    let unauthorized = app
        .http
        .get(format!("{}/followups", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(unauthorized.status(), 401);
    let (_, page) = status_and_json(app.get_authorized("/followups?limit=3").await).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(3));
    let cursor = page["next_cursor"].as_str().expect("more");
    let (_, rest) = status_and_json(app.get_authorized(&format!("/followups?limit=3&cursor={cursor}")).await).await;
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, one) = status_and_json(app.get_authorized(&format!("/followups?session_id={first}")).await).await;
    assert_eq!(one["data"].as_array().map(Vec::len), Some(1));
    let (_, queued) = status_and_json(app.get_authorized("/followups?status=queued").await).await;
    assert_eq!(queued["data"].as_array().map(Vec::len), Some(5));
    for bad in ["?status=sleeping", "?cursor=x", "?limit=0", "?sessionId=x"] {
        let (status, _) = status_and_json(app.get_authorized(&format!("/followups{bad}")).await).await;
        assert_eq!(status, 400, "{bad}");
    }
}

#[tokio::test]
async fn a_reconciled_session_gets_the_same_followups() {
    let receiver = MockServer::start().await;
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.sessions = vec![
            json!({"id": "r-1", "associated_id": "m", "status": "ENDED", "ended_at": chrono::Utc::now().to_rfc3339()}),
        ]
    });
    let app = app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.reconcile.enabled = true;
        s.followups = vec![webhook_to(&receiver)];
    })
    .await;
    for _ in 0..100 {
        if !app.jobs().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jobs: Vec<String> = app.jobs().await.into_iter().map(|j| j.1).collect();
    assert_eq!(jobs, ["webhook"]);
}

#[tokio::test]
async fn a_receiver_url_never_reaches_last_error_and_its_answer_is_read_to_64_kib_at_most() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("E".repeat(1024 * 1024)))
        .mount(&receiver)
        .await;
    let secret_path = "/hooks/T000/SECRETPATH";
    let app = app_with(|s| {
        s.followups = vec![followup(
            FollowupKind::Webhook,
            None,
            json!({"url": format!("{}{secret_path}?key=SECRETQUERY", receiver.uri()), "secret": SECRET}),
        )];
    })
    .await;
    record_one_session(&app).await;
    app.run_pending_jobs().await;

    let (_, _, _, _, last_error) = app.jobs().await.remove(0);
    let last_error = last_error.expect("the failure is recorded");
    assert!(
        !last_error.contains("SECRETPATH") && !last_error.contains("SECRETQUERY"),
        "{last_error}"
    );
    assert!(
        last_error.contains("127.0.0.1"),
        "the receiver is named by host: {last_error}"
    );
    assert!(
        last_error.len() < 2048,
        "only a snippet of the answer is kept: {} bytes",
        last_error.len()
    );
    let (_, listed) = status_and_json(app.get_authorized("/followups").await).await;
    assert!(!listed.to_string().contains("SECRETPATH"));

    // Nothing listens on port 9: a connection error names no path either.
    let closed = app_with(|s| {
        s.followups = vec![followup(
            FollowupKind::Webhook,
            None,
            json!({"url": format!("http://127.0.0.1:9{secret_path}"), "secret": SECRET}),
        )];
    })
    .await;
    record_one_session(&closed).await;
    closed.run_pending_jobs().await;
    let (_, _, _, _, last_error) = closed.jobs().await.remove(0);
    let last_error = last_error.expect("recorded");
    assert!(!last_error.contains("SECRETPATH"), "{last_error}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&elsewhere)
        .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", format!("{}/stolen", elsewhere.uri())))
        .mount(&receiver)
        .await;
    let app = app_with(|s| s.followups = vec![webhook_to(&receiver)]).await;
    record_one_session(&app).await;
    app.run_pending_jobs().await;

    assert!(elsewhere.received_requests().await.expect("recorded").is_empty());
    let (_, _, status, _, last_error) = app.jobs().await.remove(0);
    assert_eq!(status, "queued", "a redirect is a failed attempt, retried later");
    assert!(last_error.is_some_and(|e| e.contains("307")));
}

#[tokio::test]
async fn the_webhook_id_is_a_uuid_of_the_job_so_two_installations_never_share_one() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        // Each app has a fresh database, as a rebuilt installation would: its first job has the same row id.
        let app = app_with(|s| s.followups = vec![webhook_to(&receiver)]).await;
        record_one_session(&app).await;
        app.run_pending_jobs().await;
        let (id, ..) = app.jobs().await.remove(0);
        assert_eq!(id, 1);
    }
    for request in receiver.received_requests().await.expect("recorded") {
        let id = request.headers["webhook-id"].to_str().expect("ascii").to_owned();
        let uuid = id.strip_prefix("msg_").expect("msg_ prefix");
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{id}");
        ids.push(id);
    }
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn every_job_of_many_queued_at_once_gets_a_message_id_of_its_own() {
    let app = app_with(|_| {}).await;
    // Many rows of one statement, as a batch of sessions queues them: each draws its own id.
    sqlx::query(
        "INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
         SELECT 'session-' || n, 'webhook', 'webhook', 3 FROM generate_series(1, 20000) AS n",
    )
    .execute(&app.db)
    .await
    .expect("jobs");
    let (jobs, distinct, nil): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT message_id),
                count(*) FILTER (WHERE message_id = '00000000-0000-0000-0000-000000000000')
         FROM followup_jobs",
    )
    .fetch_one(&app.db)
    .await
    .expect("counts");
    assert_eq!((jobs, distinct, nil), (20000, 20000, 0));
}
