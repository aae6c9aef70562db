//! `meeting.started`: a session is live from its start until it ends, shows who is in it now, and one whose end
//! never came is asked about through the Sessions API once it is older than `reconcile.stale_live_hours`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::artifacts::{app_with_fake, deliver, ended, fixture, session};
use crate::cloudflare_fake::{APP, FakeCloudflare, GOOD_TOKEN};
use crate::helpers::TestApp;

fn started(session_id: &str, meeting_id: &str, started_at: &str) -> Vec<u8> {
    let mut event = fixture("meeting.started");
    event["meeting"]["sessionId"] = json!(session_id);
    event["meeting"]["id"] = json!(meeting_id);
    event["meeting"]["startedAt"] = json!(started_at);
    event.to_string().into_bytes()
}

fn joined(session_id: &str, peer: &str) -> Vec<u8> {
    let mut event = fixture("meeting.participantJoined");
    event["meeting"]["sessionId"] = json!(session_id);
    event["participant"]["peerId"] = json!(peer);
    event["participant"]["userDisplayName"] = json!(format!("name of {peer}"));
    event.to_string().into_bytes()
}

fn left(session_id: &str, peer: &str) -> Vec<u8> {
    let mut event = fixture("meeting.participantLeft");
    event["meeting"]["sessionId"] = json!(session_id);
    event["participant"]["peerId"] = json!(peer);
    event.to_string().into_bytes()
}

async fn listing(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app.get_sessions(query).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn ids(page: &Value) -> Vec<&str> {
    (page["data"].as_array().expect("data").iter())
        .map(|s| s["session_id"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_started_session_is_live_with_who_is_in_it_until_it_ends() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let start = started("s-live", "m-live", "2026-06-03T10:00:00.000Z");
    assert_eq!(deliver(&app, start.clone()).await["outcome"], "stored");
    assert_eq!(deliver(&app, start).await["outcome"], "duplicate");
    for body in [
        joined("s-live", "p-ann"),
        joined("s-live", "p-ben"),
        left("s-live", "p-ben"),
    ] {
        assert_eq!(deliver(&app, body).await["outcome"], "stored");
    }

    let (status, live) = listing(&app, "?status=live").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(ids(&live), ["s-live"]);
    let item = &live["data"][0];
    assert_eq!(item["participants_now"], 1, "{item}");
    assert_eq!(item["meeting_title"], "Weekly sync");
    assert_eq!(item["app_id"], APP);
    assert_eq!(item["started_at"], "2026-06-03T10:00:00Z");
    assert_eq!(item["stale_since"], Value::Null);
    let (_, ended_only) = listing(&app, "").await;
    assert!(
        ids(&ended_only).is_empty(),
        "the default listing is the ended sessions: {ended_only}"
    );

    let details = session(&app, "s-live").await;
    assert_eq!(details["status"], "live", "{details}");
    let now: Vec<&str> = (details["in_session_now"].as_array().expect("a list").iter())
        .map(|p| p["peer_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(now, ["p-ann"]);
    assert_eq!(details["participants"].as_array().map(Vec::len), Some(2));
    assert!(
        details.get("ended_at").is_none() && details.get("followups").is_none(),
        "{details}"
    );

    // The console shows it too: live, who is in it now, and who came and went.
    let mut console = crate::console::ConsoleClient::new(&app.address);
    console.sign_in(crate::helpers::API_TOKEN).await;
    let page = console.get("/console/sessions/s-live").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in ["In it now", "Attendance (2 peers)", "name of p-ann", "name of p-ben"] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }

    deliver(&app, ended("s-live", "m-live", "2026-06-03T10:30:00.000Z")).await;
    let page = console.get("/console/sessions/s-live").await;
    assert!(
        page.body.contains("Attendance (2 peers)") && page.body.contains("Follow-ups"),
        "{}",
        page.body
    );
    let (_, live) = listing(&app, "?status=live").await;
    assert!(ids(&live).is_empty(), "an ended session is not live: {live}");
    let details = session(&app, "s-live").await;
    assert_eq!(details["status"], "ended");
    assert_eq!(details["ended_at"], "2026-06-03T10:30:00Z");
    // Its start is among its deliveries; participant events are not listed by session.
    let deliveries: Value = (app.get_authorized("/deliveries?session_id=s-live").await.json().await).expect("JSON");
    let mut events: Vec<&str> = (deliveries["data"].as_array().expect("a list").iter())
        .filter_map(|d| d["event"].as_str())
        .collect();
    events.sort_unstable();
    assert_eq!(events, ["meeting.ended", "meeting.started"]);

    // A start that arrives after the end changes nothing.
    deliver(&app, ended("s-late", "m-late", "2026-06-03T11:30:00.000Z")).await;
    assert_eq!(
        deliver(&app, started("s-late", "m-late", "2026-06-03T11:00:00.000Z")).await["outcome"],
        "stored"
    );
    let (_, live) = listing(&app, "?status=live").await;
    assert!(ids(&live).is_empty(), "{live}");
    assert_eq!(session(&app, "s-late").await["status"], "ended");

    // Retention forgets the live rows of ended sessions.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM live_sessions")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(before, 2);
    rtk_sessions::forget_ended_live_sessions(&app.db).await.expect("forget");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM live_sessions")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(after, 0);
}

#[tokio::test]
async fn live_listing_pages_filters_and_refuses_what_only_ended_sessions_have() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    for n in 1..=3 {
        deliver(
            &app,
            started(
                &format!("s-{n}"),
                &format!("m-{}", n % 2),
                &format!("2026-06-03T1{n}:00:00Z"),
            ),
        )
        .await;
    }
    let (_, first) = listing(&app, "?status=live&limit=2").await;
    assert_eq!(ids(&first), ["s-3", "s-2"], "newest started first");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = listing(&app, &format!("?status=live&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), ["s-1"]);
    assert!(second["next_cursor"].is_null());
    let (_, of_meeting) = listing(&app, "?status=live&meeting_id=m-1").await;
    assert_eq!(ids(&of_meeting), ["s-3", "s-1"]);
    let (_, stale) = listing(&app, "?status=live&stale=true").await;
    assert!(ids(&stale).is_empty());

    for (query, says) in [
        ("?status=live&reason=X", "reason filters ended sessions"),
        (
            "?status=live&has_recording=true",
            "has_recording filters ended sessions",
        ),
        ("?stale=true", "add status=live"),
        ("?status=over", "\"over\" is not a session status (one of live, ended)"),
    ] {
        let (status, body) = listing(&app, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{query}: {message}");
    }
}

#[tokio::test]
async fn a_live_session_past_the_stale_age_is_ended_left_live_or_marked_stale_as_the_api_says() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    for id in ["s-ended", "s-still", "s-unknown"] {
        deliver(&app, started(id, &format!("m-{id}"), "2026-06-01T10:00:00Z")).await;
    }
    // Started a moment ago: too young to be asked about.
    let just_now = chrono::Utc::now().to_rfc3339();
    deliver(&app, started("s-young", "m-young", &just_now)).await;
    fake.with(|s| {
        s.unlisted_sessions.push(json!({
            "id": "s-ended", "associated_id": "m-s-ended", "status": "ENDED", "organization_id": APP,
            "started_at": "2026-06-01T10:00:00Z", "ended_at": "2026-06-01T11:00:00Z"
        }));
        s.unlisted_sessions.push(json!({
            "id": "s-still", "associated_id": "m-s-still", "status": "LIVE", "organization_id": APP,
            "started_at": "2026-06-01T10:00:00Z"
        }));
    });
    let clients = fake.clients(GOOD_TOKEN);
    let stale_after = Duration::from_secs(12 * 3600);
    let report = rtk_sessions::check_live_sessions(&app.db, &clients, &app.job_specs(), stale_after)
        .await
        .expect("check");
    assert_eq!(
        (report.checked, report.ended, report.still_live, report.stale),
        (3, 1, 1, 1),
        "{report:?}"
    );

    let ended = session(&app, "s-ended").await;
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["source"], "reconciliation");
    assert_eq!(ended["ended_at"], "2026-06-01T11:00:00Z");
    let (_, live) = listing(&app, "?status=live").await;
    assert_eq!(ids(&live), ["s-young", "s-unknown", "s-still"]);
    let (_, stale) = listing(&app, "?status=live&stale=true").await;
    assert_eq!(ids(&stale), ["s-unknown"]);
    assert!(stale["data"][0]["checked_at"].is_string());

    // Each is asked about again an hour later, not at every sweep.
    let again = rtk_sessions::check_live_sessions(&app.db, &clients, &app.job_specs(), stale_after)
        .await
        .expect("check");
    assert_eq!(again.checked, 0, "{again:?}");
}
