//! Follow-ups on the triggers of their choice (`on = [...]`), filtered by app and duration, seen on a real Redis
//! stream: one message per occurrence, in the order of their causes whatever the order of the events.

use rtk_sessions::{FollowupKind, FollowupSettings, Settings, Trigger};
use serde_json::{Value, json};

use crate::artifacts::{announced, deliver, ended, fixture, recording};
use crate::cloudflare_fake::{APP, FakeCloudflare, PUBLIC_URL};
use crate::events::participant;
use crate::helpers::{TestApp, spawn_app_with};

fn fresh_stream() -> String {
    format!("rtk-test-{}", uuid::Uuid::new_v4().simple())
}

/// A `redis` follow-up named `name` on `stream`, running on `on`.
fn to_stream(name: &str, stream: &str, on: &[Trigger]) -> FollowupSettings {
    let options = json!({"url": "redis://127.0.0.1:6379", "stream": stream});
    FollowupSettings {
        name: Some(name.into()),
        on: on.to_vec(),
        ..FollowupSettings::new(FollowupKind::Redis, options.as_object().cloned().unwrap_or_default())
    }
}

async fn app_with(fake: &FakeCloudflare, followups: Vec<FollowupSettings>) -> TestApp {
    spawn_app_with(|settings: &mut Settings| {
        fake.configure(settings);
        settings.worker.enabled = false;
        settings.followups = followups;
    })
    .await
}

/// Runs the queue until nothing is left to do, as time passing would: waiting jobs are made due again.
async fn settle(app: &TestApp) {
    for _ in 0..6 {
        app.run_pending_jobs().await;
        app.make_jobs_due().await;
    }
}

/// Every message on the stream, oldest first: its `ce-type` and its body.
async fn messages(stream: &str) -> Vec<(String, Value)> {
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .expect("URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut redis)
        .await
        .expect("XRANGE");
    let _: () = redis::cmd("DEL")
        .arg(stream)
        .query_async(&mut redis)
        .await
        .expect("cleanup");
    entries
        .ids
        .iter()
        .map(|entry| {
            let kind: String = entry.get("ce-type").expect("ce-type");
            let body: Vec<u8> = entry.get("body").expect("body");
            let body: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(body["type"], kind.as_str());
            (kind, body)
        })
        .collect()
}

fn promise_everything(fake: &FakeCloudflare, meeting_id: &str) {
    fake.with(|s| {
        s.meetings.insert(meeting_id.into(), "ACTIVE".into());
        s.meeting_settings.insert(
            meeting_id.into(),
            json!({"record_on_start": true, "transcribe_on_end": true, "summarize_on_end": "true"}),
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_then_each_archived_file_then_completed_whatever_the_order_of_the_events() {
    let fake = FakeCloudflare::start().await;
    let stream = fresh_stream();
    let on = [
        Trigger::SessionCompleted,
        Trigger::ArtifactArchived,
        Trigger::SessionEnded,
    ];
    let app = app_with(&fake, vec![to_stream("bus", &stream, &on)]).await;
    let orders: [[usize; 4]; 3] = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]];
    // Ended just now: well within the wait for what the meeting promised.
    let ended_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for (index, order) in orders.iter().enumerate() {
        let (session_id, meeting_id) = (format!("s-order-{index}"), format!("m-order-{index}"));
        promise_everything(&fake, &meeting_id);
        let recording_url = fake.add_file(&format!("{session_id}.mp4"), vec![7; 2048]);
        let transcript_url = fake.add_file(&format!("{session_id}.csv"), b"speaker,text\nAnn,hi\n".to_vec());
        let summary_url = fake.add_file(&format!("{session_id}.txt"), b"They said hi.".to_vec());
        let events = [
            ended(&session_id, &meeting_id, &ended_at),
            recording(
                &session_id,
                &format!("rec-{index}"),
                "UPLOADED",
                Some(&recording_url),
                2048,
            ),
            announced("transcript", &session_id, &transcript_url),
            announced("summary", &session_id, &summary_url),
        ];
        for event in order {
            deliver(&app, events[*event].clone()).await;
            app.run_pending_jobs().await;
        }
    }
    settle(&app).await;

    let all = messages(&stream).await;
    for index in 0..orders.len() {
        let session_id = format!("s-order-{index}");
        let of_session: Vec<&(String, Value)> = all
            .iter()
            .filter(|(_, body)| body["data"]["session_id"] == session_id.as_str())
            .collect();
        let kinds: Vec<&str> = of_session.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "session.ended",
                "artifact.archived",
                "artifact.archived",
                "artifact.archived",
                "session.completed"
            ],
            "order {index}: {all:?}"
        );
        let mut files: Vec<&str> = of_session[1..4]
            .iter()
            .map(|(_, body)| body["data"]["artifact"]["kind"].as_str().expect("kind"))
            .collect();
        files.sort();
        assert_eq!(files, ["recording", "summary", "transcript"]);
        for (_, body) in &of_session[1..4] {
            let artifact = &body["data"]["artifact"];
            assert!(artifact["sha256"].as_str().is_some_and(|s| s.len() == 64), "{artifact}");
            assert!(artifact["size_bytes"].as_i64().is_some_and(|s| s > 0), "{artifact}");
            let url = artifact["url"].as_str().expect("where it is served");
            assert!(
                url.starts_with(&format!("{PUBLIC_URL}/sessions/{session_id}/artifacts/")),
                "{url}"
            );
        }
        let completion = &of_session[4].1["data"]["completion"];
        assert_eq!(completion["complete"], true, "{completion}");
        assert_eq!(completion["promised"], json!(["recording", "transcript", "summary"]));
        assert_eq!(completion["missing"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_that_times_out_runs_and_says_what_is_missing() {
    let fake = FakeCloudflare::start().await;
    let stream = fresh_stream();
    let app = app_with(&fake, vec![to_stream("bus", &stream, &[Trigger::SessionCompleted])]).await;
    fake.with(|s| {
        s.meetings.insert("m-late".into(), "ACTIVE".into());
        s.meeting_settings
            .insert("m-late".into(), json!({"transcribe_on_end": true}));
    });
    // Ended two days ago: past the default 24-hour wait, and no transcript ever came.
    let ended_at =
        (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    deliver(&app, ended("s-late", "m-late", &ended_at)).await;
    settle(&app).await;
    let all = messages(&stream).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let completion = &all[0].1["data"]["completion"];
    assert_eq!(completion["complete"], false);
    assert_eq!(completion["promised"], json!(["transcript"]));
    assert_eq!(completion["missing"], json!(["transcript (promised, not announced)"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_waits_without_spending_attempts() {
    let fake = FakeCloudflare::start().await;
    let stream = fresh_stream();
    let app = app_with(&fake, vec![to_stream("bus", &stream, &[Trigger::SessionCompleted])]).await;
    promise_everything(&fake, "m-wait");
    deliver(&app, ended("s-wait", "m-wait", "2099-01-01T00:00:00.000Z")).await;
    for _ in 0..3 {
        app.run_pending_jobs().await;
        app.make_jobs_due().await;
    }
    let jobs = app.jobs().await;
    assert_eq!(jobs.len(), 1);
    let (_, _, status, attempts, error) = &jobs[0];
    assert_eq!(
        (status.as_str(), *attempts, error.as_deref()),
        ("queued", 0, None),
        "{jobs:?}"
    );
    assert!(messages(&stream).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_joins_and_leaves_give_a_message_each_once_and_filters_choose_the_sessions() {
    let fake = FakeCloudflare::start().await;
    let (live, short, other_app) = (fresh_stream(), fresh_stream(), fresh_stream());
    let on = [
        Trigger::SessionStarted,
        Trigger::ParticipantJoined,
        Trigger::ParticipantLeft,
    ];
    let long_sessions = FollowupSettings {
        min_duration_secs: Some(3600),
        ..to_stream("long-only", &short, &[Trigger::SessionEnded])
    };
    let app = app_with(
        &fake,
        vec![
            to_stream("live", &live, &on),
            long_sessions,
            FollowupSettings {
                apps: vec![APP.to_owned()],
                ..to_stream("our-app", &other_app, &[Trigger::SessionEnded])
            },
        ],
    )
    .await;
    let mut started = fixture("meeting.started");
    started["meeting"]["sessionId"] = json!("s-live");
    let at = |minute: u32| format!("2026-06-03T10:{minute:02}:00.000Z");
    let events = [
        started.to_string().into_bytes(),
        participant("s-live", "peer-ann", "Ann", &at(1), None),
        participant("s-live", "peer-ben", "Ben", &at(2), None),
        participant("s-live", "peer-ann", "Ann", &at(1), Some(&at(9))),
    ];
    for event in &events {
        deliver(&app, event.clone()).await;
        deliver(&app, event.clone()).await; // the same event again (another rtk-uuid): nothing more is sent
    }
    deliver(&app, ended("s-live", "m-live", &at(10))).await; // ten minutes: shorter than an hour
    settle(&app).await;

    let sent = messages(&live).await;
    let kinds: Vec<(&str, &str)> = sent
        .iter()
        .map(|(kind, body)| {
            let who = body["data"]["participant"]["peer_id"].as_str().unwrap_or("");
            (kind.as_str(), who)
        })
        .collect();
    assert_eq!(kinds.len(), 4, "{sent:?}");
    for expected in [
        ("session.started", ""),
        ("participant.joined", "peer-ann"),
        ("participant.joined", "peer-ben"),
        ("participant.left", "peer-ann"),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    assert_eq!(sent[0].1["data"]["session_id"], "s-live");
    assert!(
        messages(&short).await.is_empty(),
        "a ten-minute session is shorter than min_duration_secs"
    );
    assert_eq!(
        messages(&other_app).await.len(),
        1,
        "the session is of the app the entry names"
    );
}

#[test]
fn triggers_a_kind_cannot_run_on_and_filters_that_cannot_apply_stop_the_start() {
    let settings = |entry: FollowupSettings| {
        let mut settings = Settings {
            followups: vec![entry],
            ..Settings::default()
        };
        settings.realtimekit.account_id = "account".into();
        settings.realtimekit.app_id = "app".into();
        settings.realtimekit.api_token = rtk_sessions::Secret::new("token");
        rtk_sessions::Registry::validate(&settings).expect_err("refused")
    };
    let report_on_join = FollowupSettings {
        on: vec![Trigger::ParticipantJoined],
        ..FollowupSettings::new(FollowupKind::Report, Default::default())
    };
    assert!(settings(report_on_join).contains("cannot run on participant.joined"));
    let duration_before_the_end = FollowupSettings {
        min_duration_secs: Some(60),
        ..to_stream("x", "s", &[Trigger::SessionStarted])
    };
    assert!(settings(duration_before_the_end).contains("min_duration_secs"));
    let unknown_app = FollowupSettings {
        apps: vec!["nobody".into()],
        ..to_stream("x", "s", &[Trigger::SessionEnded])
    };
    assert!(settings(unknown_app).contains("\"nobody\" is not a configured app"));
    let nothing = FollowupSettings {
        on: vec![],
        ..to_stream("x", "s", &[])
    };
    assert!(settings(nothing).contains("`on` lists no trigger"));
}
