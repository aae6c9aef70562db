//! The events besides `meeting.ended` and the artifacts': what each leaves on its session.

use serde_json::json;

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
