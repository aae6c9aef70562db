//! Every shape a recording comes in: a track recording (a file per participant track, listed in layers), an audio
//! file beside the composite one, a Dyte-era event that names no session, and a track recording whose event never
//! came, found by the sweep. Each file is archived, checked and served on its own.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::artifacts::{
    app_with_fake, archive_folder, bytes_of, deliver, download, ended, fixture, recording, session, sha256,
};
use crate::cloudflare_fake::{FakeCloudflare, GOOD_TOKEN};
use crate::helpers::TestApp;

const ORGANIZATION: &str = "c94c437b-592a-4a39-b9e2-47ef1451e43b";
const TRACK_A: &str = "default_user-123_e32fb785_peer_audio_1780480195000.webm";
const TRACK_B: &str = "default_user-456_0c4f2e7a_peer_audio_1780480195000.webm";

/// RealtimeKit's track recording event (the documented sample) for `session_id`, listing `files` (name, URL).
fn track_event(session_id: &str, recording_id: &str, status: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut event = fixture("recording.statusUpdate.track");
    let urls: serde_json::Map<String, Value> = (files.iter())
        .map(|(name, url)| (name.to_string(), json!({"download_url": url})))
        .collect();
    let r = &mut event["recording"];
    r["id"] = json!(recording_id);
    r["recordingId"] = json!(recording_id);
    r["status"] = json!(status);
    r["downloadUrl"] = if files.is_empty() {
        Value::Null
    } else {
        json!([{"layer_name": "default", "download_urls": urls}])
    };
    r["roomUUID"] = json!(session_id);
    r["downloadUrlExpiry"] = json!("2099-01-01T00:00:00Z");
    event["meeting"]["sessionId"] = json!(session_id);
    event.to_string().into_bytes()
}

async fn sweep(app: &TestApp, fake: &FakeCloudflare, artifact_checks: u32) -> rtk_sessions::SweepReport {
    rtk_sessions::reconcile_sweep(
        &app.db,
        &fake.clients(GOOD_TOKEN),
        None,
        Utc::now(),
        &app.job_specs(),
        artifact_checks,
    )
    .await
    .expect("sweep")
}

#[tokio::test]
async fn a_track_recording_is_archived_file_by_file_and_each_file_is_served() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let (a_bytes, b_bytes) = (bytes_of(4000, 1), bytes_of(6000, 2));
    let a_url = fake.add_file(TRACK_A, a_bytes.clone());
    let b_url = fake.add_file(TRACK_B, b_bytes.clone());
    fake.add_track_recording("rec-t", "s-track", "m-t", &[TRACK_A, TRACK_B]);
    deliver(&app, ended("s-track", "m-t", "2026-06-03T10:30:00.000Z")).await;

    // Before it is uploaded the recording has a status and no file; the upload names its files.
    assert_eq!(
        deliver(&app, track_event("s-track", "rec-t", "RECORDING", &[])).await["outcome"],
        "stored"
    );
    let uploaded = track_event("s-track", "rec-t", "UPLOADED", &[(TRACK_A, &a_url), (TRACK_B, &b_url)]);
    assert_eq!(deliver(&app, uploaded).await["outcome"], "stored");
    // A status older than the one recorded changes nothing, and brings back no placeholder.
    assert_eq!(
        deliver(&app, track_event("s-track", "rec-t", "UPLOADING", &[])).await["outcome"],
        "duplicate"
    );

    // One track's URL expires before the archive runs: a fresh one comes from GET /recordings/{id}, whose
    // download_url is a list of layers too.
    fake.expire(TRACK_B);
    app.run_pending_jobs().await;

    let record = session(&app, "s-track").await;
    let recording = &record["artifacts"]["recordings"][0];
    assert_eq!(recording["type"], "TRACK", "{record}");
    assert_eq!(recording["status"], "UPLOADED");
    let files = recording["files"].as_array().expect("files");
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, [TRACK_A, TRACK_B], "{record}");
    for (file, bytes) in files.iter().zip([&a_bytes, &b_bytes]) {
        assert_eq!(file["state"], "archived", "{record}");
        assert_eq!(file["layer"], "default");
        assert_eq!(file["size_bytes"], bytes.len());
        assert_eq!(file["sha256"], sha256(bytes));
        let path = format!(
            "/sessions/s-track/artifacts/recordings/rec-t/files/{}",
            file["name"].as_str().unwrap_or_default()
        );
        let (status, content_type, body) = download(&app, &path).await;
        assert_eq!((status, content_type.as_str()), (200, "video/webm"));
        assert_eq!(&body, bytes);
    }
    assert_eq!(fake.downloads(TRACK_B), 1, "the expired URL was renewed, not retried");
    // Two files and no composite: the recording's own URL has no single file to serve.
    let (status, _, _) = download(&app, "/sessions/s-track/artifacts/recordings/rec-t").await;
    assert_eq!(status, 404);
    let (status, _, _) = download(&app, "/sessions/s-track/artifacts/recordings/rec-t/files/nope.webm").await;
    assert_eq!(status, 404);

    let folder = archive_folder(&app).join(format!("{ORGANIZATION}/2026/06/03/s-track/recording-rec-t/tracks"));
    assert_eq!(std::fs::read(folder.join(TRACK_A)).expect("archived"), a_bytes);
}

#[tokio::test]
async fn an_audio_file_is_a_second_file_of_its_recording_and_the_recording_url_keeps_serving_the_composite() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let video = bytes_of(3000, 3);
    let audio = bytes_of(1000, 4);
    let video_url = fake.add_file("rec-av.mp4", video.clone());
    let audio_url = fake.add_file("rec-av.m4a", audio.clone());
    deliver(&app, ended("s-av", "m-av", "2026-06-03T10:30:00.000Z")).await;
    let mut event: Value =
        serde_json::from_slice(&recording("s-av", "rec-av", "UPLOADED", Some(&video_url), 3000)).expect("JSON");
    event["recording"]["audioDownloadUrl"] = json!(audio_url);
    deliver(&app, event.to_string().into_bytes()).await;
    app.run_pending_jobs().await;

    let record = session(&app, "s-av").await;
    let files = &record["artifacts"]["recordings"][0]["files"];
    assert_eq!(files[0]["name"], "composite", "{record}");
    assert_eq!(files[1]["name"], "audio");
    assert!(
        files
            .as_array()
            .expect("files")
            .iter()
            .all(|f| f["state"] == "archived"),
        "{record}"
    );
    let (status, _, body) = download(&app, "/sessions/s-av/artifacts/recordings/rec-av").await;
    assert_eq!((status, &body), (200, &video));
    let (status, content_type, body) = download(&app, "/sessions/s-av/artifacts/recordings/rec-av/files/audio").await;
    assert_eq!((status, content_type.as_str(), &body), (200, "audio/mp4", &audio));
    let (status, _, body) = download(&app, "/sessions/s-av/artifacts/recordings/rec-av/files/composite").await;
    assert_eq!((status, &body), (200, &video));
}

#[tokio::test]
async fn a_recording_event_without_a_session_is_attributed_through_the_recordings_api() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let bytes = bytes_of(2500, 5);
    let url = fake.add_file("legacy.mp4", bytes.clone());
    fake.add_recording("rec-old", "s-old", "m-old", "legacy.mp4");
    deliver(&app, ended("s-old", "m-old", "2026-06-03T10:30:00.000Z")).await;

    // A Dyte-era event: no meeting.sessionId, no roomUUID, fileSize a number, timestamps with a space.
    let mut legacy = fixture("recording.statusUpdate.legacy");
    legacy["recording"]["id"] = json!("rec-old");
    legacy["recording"]["recordingId"] = json!("rec-old");
    legacy["recording"]["downloadUrl"] = json!(url);
    legacy["recording"]["fileSize"] = json!(2500);
    legacy["recording"]["downloadUrlExpiry"] = json!("2099-01-01T00:00:00Z");
    let answer = deliver(&app, legacy.to_string().into_bytes()).await;
    assert_eq!(answer["outcome"], "stored", "{answer}");
    let delivery_id = answer["delivery_id"].as_str().expect("an id").to_owned();
    // The same bytes again are a duplicate, not a second wait.
    assert_eq!(
        deliver(&app, legacy.to_string().into_bytes()).await["outcome"],
        "duplicate"
    );

    // An event of a recording RealtimeKit does not know: it cannot be attributed, and says why.
    let mut unknown = legacy.clone();
    unknown["recording"]["id"] = json!("rec-gone");
    unknown["recording"]["recordingId"] = json!("rec-gone");
    let unknown_id = deliver(&app, unknown.to_string().into_bytes()).await["delivery_id"].clone();

    let report = sweep(&app, &fake, 0).await;
    assert_eq!(report.recordings_attributed, 1, "{report:?}");
    app.run_pending_jobs().await;

    let record = session(&app, "s-old").await;
    let file = &record["artifacts"]["recordings"][0]["files"][0];
    assert_eq!(file["state"], "archived", "{record}");
    assert_eq!(file["sha256"], sha256(&bytes));
    assert_eq!(
        record["artifacts"]["recordings"][0]["started_at"],
        "2026-06-03T10:00:05.903816Z"
    );
    let delivery: Value = app
        .get_authorized(&format!("/deliveries/{delivery_id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(delivery["session_id"], "s-old", "{delivery}");
    let unknown: Value = (app
        .get_authorized(&format!("/deliveries/{}", unknown_id.as_str().expect("an id")))
        .await)
        .json()
        .await
        .expect("JSON");
    assert_eq!(unknown["outcome"], "unprocessable", "{unknown}");
    assert!(
        unknown["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("GET /recordings/rec-gone"),
        "{unknown}"
    );

    // A later event of the same recording without a session is attributed at once: its recording is known.
    let mut later = legacy.clone();
    later["recording"]["status"] = json!("ERRORED");
    assert_eq!(
        deliver(&app, later.to_string().into_bytes()).await["outcome"],
        "duplicate",
        "archived files stay"
    );
}

#[tokio::test]
async fn the_sweep_archives_a_track_recording_whose_event_never_came() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let two_hours_ago = (Utc::now() - TimeDelta::hours(2)).to_rfc3339();
    deliver(&app, ended("s-lost-event", "m-le", &two_hours_ago)).await;
    fake.add_file(TRACK_A, bytes_of(1200, 7));
    fake.add_file(TRACK_B, bytes_of(1300, 8));
    fake.add_track_recording("rec-le", "s-lost-event", "m-le", &[TRACK_A, TRACK_B]);

    let report = sweep(&app, &fake, 10).await;
    assert_eq!(report.artifacts_found, 1, "one recording, {report:?}");
    app.run_pending_jobs().await;

    let record = session(&app, "s-lost-event").await;
    let recording = &record["artifacts"]["recordings"][0];
    assert_eq!(recording["type"], "TRACK", "{record}");
    let states: Vec<&str> = (recording["files"].as_array().expect("files").iter())
        .map(|f| f["state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["archived", "archived"], "{record}");
}
