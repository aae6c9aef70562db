//! The events besides `meeting.ended` and the artifacts': what each leaves on its session.

use serde_json::{Value, json};

use crate::artifacts::{app_with_fake, deliver, ended, fixture, session};
use crate::cloudflare_fake::FakeCloudflare;

fn livestream(session_id: &str, status: &str) -> Vec<u8> {
    let mut event = fixture("livestreaming.statusUpdate");
    event["meeting"]["sessionId"] = json!(session_id);
    event["status"] = json!(status);
    event.to_string().into_bytes()
}

#[tokio::test]
async fn livestream_updates_are_kept_on_the_session_and_the_stream_key_never_shows() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    // The livestream goes live and offline before the session ends; the updates wait for it.
    let live = livestream("s-live", "LIVE");
    assert_eq!(deliver(&app, live.clone()).await["outcome"], "stored");
    assert_eq!(
        deliver(&app, live).await["outcome"],
        "duplicate",
        "a retry is not a transition"
    );
    assert_eq!(
        deliver(&app, livestream("s-live", "offline")).await["outcome"],
        "stored"
    );
    deliver(&app, ended("s-live", "m-live", "2026-06-03T10:30:00.000Z")).await;

    let record = session(&app, "s-live").await;
    let streams = record["livestreams"].as_array().expect("a list");
    assert_eq!(streams.len(), 1, "{record}");
    let stream = &streams[0];
    assert_eq!(stream["stream_id"], "f1b5a7a4-3c6e-4d0a-9e7e-2b6f0c1d8e9a");
    assert_eq!(stream["status"], "OFFLINE");
    assert_eq!(
        stream["playback_url"],
        "https://example-stream.realtime.cloudflare.com/f1b5a7a4/index.m3u8"
    );
    let statuses: Vec<&str> = (stream["transitions"].as_array().expect("transitions").iter())
        .map(|t| t["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["LIVE", "OFFLINE"]);
    assert!(stream["transitions"][0]["at"].is_string());
    let deliveries: Value = (app.get_authorized("/deliveries?session_id=s-live").await.json().await).expect("JSON");
    let livestream_deliveries = (deliveries["data"].as_array().expect("a list").iter())
        .filter(|d| d["event"] == "livestreaming.statusUpdate")
        .count();
    assert_eq!(
        livestream_deliveries, 2,
        "the session's deliveries list its livestream updates: {deliveries}"
    );
    let shown = record.to_string();
    assert!(!shown.contains("sk_example") && !shown.contains("rtmps://"), "{shown}");
    let kept: Option<String> = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM livestream_updates t")
        .fetch_one(&app.db)
        .await
        .expect("query");
    assert!(
        !kept.unwrap_or_default().contains("sk_example"),
        "only the raw delivery holds the key"
    );
}

/// A participant event of `session_id` for `peer`: joined (no `left`) or left.
pub(crate) fn participant(session_id: &str, peer: &str, name: &str, joined: &str, left: Option<&str>) -> Vec<u8> {
    let event = if left.is_some() {
        "meeting.participantLeft"
    } else {
        "meeting.participantJoined"
    };
    let mut body = fixture(event);
    body["meeting"]["sessionId"] = json!(session_id);
    let p = &mut body["participant"];
    p["peerId"] = json!(peer);
    p["userDisplayName"] = json!(name);
    p["customParticipantId"] = json!(format!("user-{name}"));
    p["joinedAt"] = json!(joined);
    if let Some(left) = left {
        p["leftAt"] = json!(left);
    }
    body.to_string().into_bytes()
}

/// A session's events: Ann joins and leaves, rejoins as a new peer and stays to the end; Ben joins and leaves;
/// Cy joins and leaves after the meeting ended was sent; and the `meeting.ended`.
fn session_events(session_id: &str) -> Vec<Vec<u8>> {
    let at = |minute: u32| format!("2026-06-03T10:{minute:02}:00.000Z");
    vec![
        participant(session_id, "peer-ann-1", "Ann", &at(0), None),
        participant(session_id, "peer-ann-1", "Ann", &at(0), Some(&at(10))),
        participant(session_id, "peer-ann-2", "Ann", &at(12), None),
        participant(session_id, "peer-ann-2", "Ann", &at(12), Some(&at(30))),
        participant(session_id, "peer-ben", "Ben", &at(5), None),
        participant(session_id, "peer-ben", "Ben", &at(5), Some(&at(25))),
        participant(session_id, "peer-cy", "Cy", &at(20), None),
        participant(session_id, "peer-cy", "Cy", &at(20), Some(&at(29))),
        crate::artifacts::ended(session_id, "m-att", &at(30)),
    ]
}

fn expected_attendance() -> Value {
    let entry = |peer: &str, name: &str, joined: u32, left: u32| {
        json!({"peer_id": peer, "display_name": name, "custom_participant_id": format!("user-{name}"),
               "joined_at": format!("2026-06-03T10:{joined:02}:00Z"), "left_at": format!("2026-06-03T10:{left:02}:00Z")})
    };
    json!([
        entry("peer-ann-1", "Ann", 0, 10),
        entry("peer-ben", "Ben", 5, 25),
        entry("peer-ann-2", "Ann", 12, 30),
        entry("peer-cy", "Cy", 20, 29),
    ])
}

#[test]
fn attendance_is_the_same_whatever_the_order_of_the_events() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let fake = runtime.block_on(FakeCloudflare::start());
    let app = runtime.block_on(app_with_fake(&fake));
    let cases = std::sync::atomic::AtomicUsize::new(0);
    let orders = Just((0..session_events("s").len()).collect::<Vec<usize>>()).prop_shuffle();
    // Each case delivers one session's events in a random order, three at a time concurrently (so that a join and
    // its leave may share a batch), to a session of its own.
    let mut runner = TestRunner::new(Config {
        cases: 12,
        ..Config::default()
    });
    runner
        .run(&orders, |order| {
            let session_id = format!("s-order-{}", cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let events = session_events(&session_id);
            let attendance = runtime.block_on(async {
                for chunk in order.chunks(3) {
                    let sent = chunk.iter().map(|&i| deliver(&app, events[i].clone()));
                    for answer in futures_util::future::join_all(sent).await {
                        assert_eq!(answer["outcome"], "stored", "{answer}");
                    }
                }
                session(&app, &session_id).await["participants"].clone()
            });
            prop_assert_eq!(attendance, expected_attendance(), "order {:?}", order);
            Ok(())
        })
        .expect("one attendance whatever the order");
}

#[tokio::test]
async fn the_report_takes_a_complete_attendance_from_the_events_and_asks_the_api_otherwise() {
    let fake = FakeCloudflare::start().await;
    let app = crate::artifacts::app_with_report(&fake).await;
    for session_id in ["s-complete", "s-partial"] {
        crate::followups::serve_session_to_fake(&fake, session_id).await;
    }
    for event in session_events("s-complete") {
        deliver(&app, event).await;
    }
    // Ben's leave never came: the events do not tell the whole attendance.
    let mut partial = session_events("s-partial");
    partial.remove(5);
    for event in partial {
        deliver(&app, event).await;
    }
    app.run_pending_jobs().await;

    let names = |report: &Value| -> Vec<String> {
        (report["participants"].as_array().expect("participants").iter())
            .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let complete: Value = app
        .get_authorized("/sessions/s-complete/report")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(names(&complete), ["Ann", "Ben", "Ann", "Cy"], "{complete}");
    assert_eq!(complete["peak_concurrency"], 3, "Ann, Ben and Cy at 10:20");
    let partial: Value = app
        .get_authorized("/sessions/s-partial/report")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(names(&partial), ["Mary Sue", "Sam"], "the Sessions API's: {partial}");
    let asked: Vec<String> = (fake.server.received_requests().await.unwrap_or_default().iter())
        .map(|r| r.url.path().to_owned())
        .filter(|path| path.ends_with("/participants"))
        .collect();
    assert_eq!(
        asked.len(),
        1,
        "only the partial session's participants are asked for: {asked:?}"
    );
    assert!(asked[0].contains("s-partial"));
}

#[tokio::test]
async fn replaying_a_participant_or_livestream_event_records_nothing_twice() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let at = "2026-06-03T10:00:00.000Z";
    let joined = deliver(&app, participant("s-replay", "peer-r", "Ann", at, None)).await;
    let live = deliver(&app, livestream("s-replay", "LIVE")).await;
    deliver(
        &app,
        crate::artifacts::ended("s-replay", "m-r", "2026-06-03T10:30:00.000Z"),
    )
    .await;
    for answer in [joined, live] {
        let id = answer["delivery_id"].as_str().expect("an id");
        let response = (app.http.post(format!("{}/deliveries/{id}/replay", app.address)))
            .bearer_auth(crate::helpers::API_TOKEN)
            .send()
            .await
            .expect("answers");
        let (status, replayed) = crate::helpers::status_and_json(response).await;
        assert_eq!(status, 200, "{replayed}");
        assert_eq!(replayed["outcome"], "stored", "{replayed}");
        assert_eq!(replayed["session_id"], "s-replay", "{replayed}");
    }
    let record = session(&app, "s-replay").await;
    assert_eq!(record["participants"].as_array().map(Vec::len), Some(1), "{record}");
    assert_eq!(record["participants"][0]["joined_at"], "2026-06-03T10:00:00Z");
    let transitions = &record["livestreams"][0]["transitions"];
    assert_eq!(transitions.as_array().map(Vec::len), Some(1), "{record}");
}

/// A session of 1,000 participants: 2,000 events in a burst, 32 at a time, shuffled (a leave may come before its
/// join), with other sessions ending meanwhile. Every event is stored once, the attendance is exact, and the other
/// sessions are recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_participants_in_a_burst_give_an_exact_attendance_beside_other_deliveries() {
    use futures_util::stream::{self, StreamExt};
    use rand::seq::SliceRandom;

    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let at = |second: u32| format!("2026-06-03T10:{:02}:{:02}.000Z", second / 60, second % 60);
    let mut bodies: Vec<Vec<u8>> = (0..1000u32)
        .flat_map(|n| {
            let (peer, name) = (format!("peer-{n}"), format!("P{n}"));
            let (joined, left) = (at(n % 1800), at(n % 1800 + 1));
            [
                participant("s-big", &peer, &name, &joined, None),
                participant("s-big", &peer, &name, &joined, Some(&left)),
            ]
        })
        .collect();
    bodies.push(ended("s-big", "m-big", "2026-06-03T10:31:00.000Z"));
    bodies.extend((0..50).map(|n| ended(&format!("s-other-{n}"), "m-other", "2026-06-03T11:00:00.000Z")));
    bodies.shuffle(&mut rand::rng());

    let outcomes: Vec<Value> = stream::iter(bodies)
        .map(|body| deliver(&app, body))
        .buffer_unordered(32)
        .collect()
        .await;

    assert!(
        outcomes.iter().all(|o| o["outcome"] == "stored"),
        "every event stored once"
    );
    let attendance = session(&app, "s-big").await["participants"].clone();
    let attendance = attendance.as_array().expect("a list");
    assert_eq!(attendance.len(), 1000);
    assert!(
        attendance
            .iter()
            .all(|p| p["joined_at"].is_string() && p["left_at"].is_string()),
        "every peer has its join and its leave"
    );
    let peer_7 = attendance.iter().find(|p| p["peer_id"] == "peer-7").expect("peer-7");
    assert_eq!(peer_7["joined_at"], "2026-06-03T10:00:07Z");
    assert_eq!(peer_7["left_at"], "2026-06-03T10:00:08Z");
    let others: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE session_id LIKE 's-other-%'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(others, 50);
}
