//! Whose delivery it is: one deployment serving two apps of one account, each with its own webhook, API path and
//! token, and a third app's signed deliveries kept as `foreign` without anything done for them.

use rtk_sessions::{AppSettings, FollowupKind, FollowupSettings, Secret, Settings};
use serde_json::{Value, json};

use crate::cloudflare_fake::{ACCOUNT, APP, APP_2, FakeCloudflare, GOOD_TOKEN, GOOD_TOKEN_2};
use crate::helpers::{API_TOKEN, TestApp, spawn_app_with, start, status_and_json};

/// An app that is not configured: a stranger's, with a RealtimeKit account of its own.
const APP_3: &str = "stranger-app-3";

fn followup(kind: FollowupKind) -> FollowupSettings {
    FollowupSettings::new(kind, serde_json::Map::new())
}

/// The first app in the shorthand, the second as a `[[realtimekit.apps]]` entry with a token of its own.
fn two_apps(fake: &FakeCloudflare, settings: &mut Settings) {
    fake.configure(settings);
    settings.realtimekit.apps = vec![AppSettings {
        app_id: APP_2.into(),
        name: Some("staging".into()),
        account_id: String::new(),
        api_token: Secret::new(GOOD_TOKEN_2),
    }];
    settings.worker.enabled = false;
    settings.followups = vec![followup(FollowupKind::Report)];
}

fn ended(app_id: &str, session_id: &str, meeting_id: &str) -> Vec<u8> {
    json!({"event": "meeting.ended", "reason": "HOST_ENDED_MEETING", "meeting": {
        "id": meeting_id, "sessionId": session_id, "title": "Weekly sync",
        "startedAt": "2026-06-03T10:00:00Z", "endedAt": "2026-06-03T10:30:00Z",
        "organizedBy": {"id": app_id, "name": "Org"}}})
    .to_string()
    .into_bytes()
}

fn transcript(app_id: &str, session_id: &str, url: &str) -> Vec<u8> {
    json!({"event": "meeting.transcript", "transcriptDownloadUrl": url,
        "transcriptDownloadUrlExpiry": "2099-01-01T00:00:00Z",
        "meeting": {"id": "m-3", "sessionId": session_id, "organizedBy": {"id": app_id}}})
    .to_string()
    .into_bytes()
}

fn recording(app_id: &str, session_id: &str, url: &str) -> Vec<u8> {
    json!({"event": "recording.statusUpdate", "meeting": {"id": "m-3", "sessionId": session_id},
        "recording": {"id": "rec-3", "recordingId": "rec-3", "status": "UPLOADED", "downloadUrl": url,
            "downloadUrlExpiry": "2099-01-01T00:00:00Z", "fileSize": "5", "outputFileName": "rec-3.mp4",
            "roomUUID": session_id, "organizationId": app_id}})
    .to_string()
    .into_bytes()
}

async fn deliver(app: &TestApp, body: Vec<u8>) -> Value {
    let (status, ack) = status_and_json(app.deliver(&app.signed(body)).await).await;
    assert_eq!(status, 200, "{ack}");
    ack
}

fn api_session(app_id: &str, id: &str) -> Value {
    json!({"id": id, "associated_id": format!("meeting-of-{id}"), "meeting_display_name": "Standup",
        "status": "ENDED", "organization_id": app_id, "minutes_consumed": 1.0,
        "started_at": "2026-06-03T10:00:00Z", "ended_at": "2026-06-03T10:30:00Z",
        "participants": [{"id": "p1", "display_name": "Mary Sue", "joined_at": "2026-06-03T10:00:00Z",
                          "left_at": "2026-06-03T10:30:00Z", "duration": 30.0}]})
}

async fn end_meeting(app: &TestApp, meeting_id: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/meetings/{meeting_id}/end", app.address))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("answers");
    status_and_json(response).await
}

#[tokio::test]
async fn two_apps_each_use_their_own_webhook_path_and_token_and_a_third_apps_deliveries_are_foreign() {
    let fake = FakeCloudflare::start().await;
    fake.add_app(APP_2, GOOD_TOKEN_2);
    let app = spawn_app_with(|s| two_apps(&fake, s)).await;

    // One webhook per app, each registered through that app's own path with its own token.
    let readiness = app
        .wait_until(|r| r["checks"]["registration"]["state"] == "registered")
        .await;
    let per_app = readiness["checks"]["registration"]["apps"]
        .as_array()
        .expect("apps")
        .clone();
    assert_eq!(per_app.len(), 2, "{readiness}");
    let webhooks = fake.webhooks();
    assert_eq!(webhooks.len(), 2);
    for (app_id, token) in [(APP, GOOD_TOKEN), (APP_2, GOOD_TOKEN_2)] {
        let mine: Vec<&Value> = webhooks.iter().filter(|w| w["app"] == app_id).collect();
        assert_eq!(mine.len(), 1, "one webhook for {app_id}");
        assert_eq!(mine[0]["url"], crate::cloudflare_fake::OUR_WEBHOOK_URL);
        let calls = fake.calls_of(app_id);
        assert!(
            calls
                .iter()
                .any(|(m, p, t)| m == "POST" && p == "webhooks" && t == token),
            "{calls:?}"
        );
        assert!(
            calls.iter().all(|(_, _, t)| t == token),
            "only {app_id}'s token is used for it: {calls:?}"
        );
    }

    // Each app's session is recorded with its app, and its report asks that app's API with that app's token.
    fake.with(|s| {
        s.sessions.push(api_session(APP, "s-one"));
        s.sessions.push(api_session(APP_2, "s-two"));
    });
    assert_eq!(deliver(&app, ended(APP, "s-one", "m-1")).await["outcome"], "stored");
    assert_eq!(deliver(&app, ended(APP_2, "s-two", "m-2")).await["outcome"], "stored");
    let (_, two) = status_and_json(app.get_session("s-two").await).await;
    assert_eq!(two["app_id"], APP_2);
    let (_, listed) = status_and_json(app.get_sessions(&format!("?app_id={APP_2}")).await).await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|s| s["session_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec!["s-two"]);
    app.run_pending_jobs().await;
    let (status, report) = status_and_json(app.get_authorized("/sessions/s-two/report").await).await;
    assert_eq!(
        (status, report["participant_count"].as_i64()),
        (200, Some(1)),
        "{report}"
    );
    let two_calls = fake.calls_of(APP_2);
    assert!(
        two_calls
            .iter()
            .any(|(m, p, t)| m == "GET" && p == "sessions/s-two" && t == GOOD_TOKEN_2)
    );
    assert!(
        !fake.calls_of(APP).iter().any(|(_, p, _)| p.contains("s-two")),
        "app 1's API never hears of s-two"
    );

    // Ending a session needs the app once there are two; each goes to its own app's path.
    fake.with(|s| {
        s.meetings.insert("m-2".into(), "ACTIVE".into());
        s.active_sessions.insert("m-2".into(), 3);
    });
    let (status, error) = end_meeting(&app, "m-2", json!({})).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("app_required")),
        "{error}"
    );
    let (status, error) = end_meeting(&app, "m-2", json!({"app_id": APP_3})).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("unknown_app")),
        "{error}"
    );
    let (status, ended_meeting) = end_meeting(&app, "m-2", json!({"app_id": APP_2})).await;
    assert_eq!(
        (status, ended_meeting["kicked_participants_count"].as_i64()),
        (200, Some(3))
    );
    assert!(
        fake.calls_of(APP_2)
            .iter()
            .any(|(m, p, t)| m == "POST" && p == "meetings/m-2/active-session/kick-all" && t == GOOD_TOKEN_2)
    );

    // Backfill sweeps each app through its own API; each session keeps its app.
    fake.with(|s| {
        s.sessions.push(api_session(APP, "s-missed-one"));
        s.sessions.push(api_session(APP_2, "s-missed-two"));
    });
    let clients =
        rtk_sessions::AppClients::from_settings(&app.settings.realtimekit, reqwest::Client::new()).expect("clients");
    let since = chrono::Utc::now() - chrono::TimeDelta::days(3650);
    let report = rtk_sessions::reconcile_sweep(&app.db, &clients, None, since, &app.job_specs(), 0)
        .await
        .expect("sweep");
    assert_eq!((report.listed, report.recorded), (4, 2), "{report:?}");
    let (_, missed) = status_and_json(app.get_session("s-missed-two").await).await;
    assert_eq!(
        (missed["app_id"].as_str(), missed["source"].as_str()),
        (Some(APP_2), Some("reconciliation"))
    );

    // A third app's meeting.ended, transcript and recording: answered 2xx, kept as foreign, nothing done.
    let url = fake.add_file("stranger.csv", b"hello".to_vec());
    app.run_pending_jobs().await; // the reconciled sessions' reports
    let calls_before = fake.with(|s| s.app_calls.len());
    let jobs_before = app.count("followup_jobs").await;
    let foreign_ended = ended(APP_3, "s-three", "m-3");
    for body in [
        foreign_ended.clone(),
        transcript(APP_3, "s-three", &url),
        recording(APP_3, "s-three", &url),
    ] {
        let ack = deliver(&app, body).await;
        assert_eq!(ack["outcome"], "foreign", "{ack}");
    }
    app.run_pending_jobs().await;
    assert_eq!(
        app.count("followup_jobs").await,
        jobs_before,
        "no follow-up is queued for a foreign delivery"
    );
    assert_eq!(
        fake.downloads("stranger.csv"),
        0,
        "nothing is downloaded for a foreign app"
    );
    assert_eq!(
        fake.with(|s| s.app_calls.len()),
        calls_before,
        "no Cloudflare call for a foreign app"
    );
    let (status, _) = status_and_json(app.get_session("s-three").await).await;
    assert_eq!(status, 404);
    let artifacts: i64 = sqlx::query_scalar("SELECT count(*) FROM artifacts WHERE session_id = 's-three'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(artifacts, 0);
    let (_, foreign) = status_and_json(app.get_authorized("/deliveries?outcome=foreign").await).await;
    let foreign = foreign["data"].as_array().expect("data").clone();
    assert_eq!(foreign.len(), 3);
    assert!(
        foreign
            .iter()
            .all(|d| d["app_id"] == APP_3 && d["outcome"] == "foreign")
    );
    let mut console = crate::console::ConsoleClient::new(&app.address);
    console.sign_in(API_TOKEN).await;
    let overview = console.get("/console").await;
    assert!(
        overview
            .body
            .contains("Deliveries from an app that is not configured: <code>stranger-app-3</code>"),
        "the overview names the app an operator may have forgotten: {}",
        overview.body
    );
    let metrics = app.get_authorized("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains(r#"rtk_deliveries_total{outcome="foreign",app=""}"#),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(r#"rtk_deliveries_total{{outcome="stored",app="{APP_2}"}}"#)));
    // When the app was last heard from, for the silence alert.
    let last = format!(r#"rtk_last_delivery_received_timestamp_seconds{{app="{APP_2}"}} "#);
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&last))
        .expect("the app's last delivery");
    let at: f64 = line[last.len()..].parse().expect("a number");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!((0.0..300.0).contains(&(now - at)), "{line}");

    // The app is added (a restart over the same database): a replay records the session once.
    let ended_id = foreign
        .iter()
        .find(|d| d["event"] == "meeting.ended")
        .and_then(|d| d["delivery_id"].as_str())
        .expect("the foreign meeting.ended")
        .to_owned();
    let mut settings = app.settings.clone();
    settings.registration.enabled = false;
    settings.realtimekit.apps.push(AppSettings {
        app_id: APP_3.into(),
        name: None,
        account_id: ACCOUNT.into(),
        api_token: Secret::new("token-3"),
    });
    let mut first = app;
    first.stop().await.expect("stops");
    let again = start(settings).await;
    again.wait_until(|r| r["checks"]["database"]["status"] == "ok").await;
    let replay = |id: String| {
        let again = &again;
        async move {
            let response = again
                .http
                .post(format!("{}/deliveries/{id}/replay", again.address))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("answers");
            status_and_json(response).await
        }
    };
    let (status, replayed) = replay(ended_id.clone()).await;
    assert_eq!(
        (
            status,
            replayed["previous_outcome"].as_str(),
            replayed["outcome"].as_str()
        ),
        (200, Some("foreign"), Some("stored")),
        "{replayed}"
    );
    let (status, replayed) = replay(ended_id).await;
    assert_eq!(
        (status, replayed["outcome"].as_str()),
        (200, Some("stored")),
        "a second replay records nothing twice"
    );
    let (status, three) = status_and_json(again.get_session("s-three").await).await;
    assert_eq!((status, three["app_id"].as_str()), (200, Some(APP_3)));
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE session_id = 's-three'")
        .fetch_one(&again.db)
        .await
        .expect("count");
    assert_eq!(sessions, 1);
    drop(first);
}

#[tokio::test]
async fn foreign_deliveries_are_kept_within_their_bound_and_without_apps_every_app_is_accepted() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
        s.ingest.foreign_deliveries_kept = 2;
    })
    .await;
    for i in 0..3 {
        let ack = deliver(&app, ended(APP_3, &format!("s-{i}"), "m")).await;
        assert_eq!(ack["outcome"], "foreign");
    }
    // A delivery that names no app, or two, fails closed: foreign too.
    let no_app = json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": "s-x", "endedAt": "2026-06-03T10:30:00Z"}});
    assert_eq!(
        deliver(&app, no_app.to_string().into_bytes()).await["outcome"],
        "foreign"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'foreign'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(
        kept, 2,
        "ingest.foreign_deliveries_kept bounds what a stranger makes us store"
    );
    assert_eq!(app.count("sessions").await, 0);
    // Ours still is ours.
    assert_eq!(deliver(&app, ended(APP, "s-ours", "m")).await["outcome"], "stored");

    // No app configured at all (a local trial): every app's deliveries are accepted as before.
    let open = spawn_app_with(|s| s.registration.enabled = false).await;
    assert_eq!(deliver(&open, ended(APP_3, "s-any", "m")).await["outcome"], "stored");
    let (_, session) = status_and_json(open.get_session("s-any").await).await;
    assert_eq!(session["app_id"], APP_3);
}
