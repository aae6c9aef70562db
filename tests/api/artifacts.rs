//! The whole post-meeting record: recordings, transcripts, summaries and chats announced by signed events (in any
//! order), attached to their session, archived from the fake Cloudflare's store into a local archive folder, and
//! served back. The S3 path is tested in `archive_s3`.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cloudflare_fake::{FakeCloudflare, GOOD_TOKEN};
use crate::helpers::{TestApp, spawn_app_with};

const ORGANIZATION: &str = "c94c437b-592a-4a39-b9e2-47ef1451e43b";

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

pub fn ended(session_id: &str, meeting_id: &str, ended_at: &str) -> Vec<u8> {
    let mut event = fixture("meeting.ended");
    event["meeting"]["sessionId"] = json!(session_id);
    event["meeting"]["id"] = json!(meeting_id);
    event["meeting"]["endedAt"] = json!(ended_at);
    event.to_string().into_bytes()
}

pub fn recording(session_id: &str, recording_id: &str, status: &str, url: Option<&str>, size: usize) -> Vec<u8> {
    let mut event = fixture("recording.statusUpdate");
    let r = &mut event["recording"];
    r["id"] = json!(recording_id);
    r["recordingId"] = json!(recording_id);
    r["status"] = json!(status);
    r["downloadUrl"] = json!(url);
    r["fileSize"] = json!(size.to_string());
    r["outputFileName"] = json!(format!("{recording_id}.mp4"));
    r["roomUUID"] = json!(session_id);
    r["downloadUrlExpiry"] = json!("2099-01-01T00:00:00Z");
    event["meeting"]["sessionId"] = json!(session_id);
    event.to_string().into_bytes()
}

/// `kind` is `transcript`, `summary` or `chat`.
pub fn announced(kind: &str, session_id: &str, url: &str) -> Vec<u8> {
    let expiry = "2099-01-01T00:00:00Z";
    let mut event = match kind {
        "transcript" => fixture("meeting.transcript"),
        "summary" => fixture("meeting.summary"),
        _ => fixture("meeting.chatSynced"),
    };
    match kind {
        "chat" => {
            event["sessionId"] = json!(session_id);
            event["chatDownloadUrl"] = json!(url);
            event["chatDownloadUrlExpiry"] = json!(expiry);
        }
        kind => {
            event["meeting"]["sessionId"] = json!(session_id);
            event[format!("{kind}DownloadUrl")] = json!(url);
            event[format!("{kind}DownloadUrlExpiry")] = json!(expiry);
        }
    }
    event.to_string().into_bytes()
}

pub fn bytes_of(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn rtk(app: &TestApp, args: &[&str]) -> std::process::Output {
    crate::binary::run(crate::binary::command(&app.db_name).args(args))
}

/// An app against the fake whose follow-ups the test runs itself (`run_pending_jobs`).
pub async fn app_with_fake(fake: &FakeCloudflare) -> TestApp {
    spawn_app_with(|settings| {
        fake.configure(settings);
        settings.worker.enabled = false;
    })
    .await
}

/// An app against the fake with a `report` follow-up alone, whose follow-ups the test runs itself.
pub async fn app_with_report(fake: &FakeCloudflare) -> TestApp {
    spawn_app_with(|settings| {
        fake.configure(settings);
        settings.worker.enabled = false;
        settings.followups = vec![rtk_sessions::FollowupSettings::new(
            rtk_sessions::FollowupKind::Report,
            Default::default(),
        )];
    })
    .await
}

pub async fn deliver(app: &TestApp, body: Vec<u8>) -> Value {
    let response = app.deliver(&app.signed(body)).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

pub async fn session(app: &TestApp, session_id: &str) -> Value {
    let response = app.get_session(session_id).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

pub async fn download(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let response = app.get_authorized(path).await;
    let status = response.status().as_u16();
    let content_type = (response.headers().get("content-type"))
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, content_type, response.bytes().await.expect("body").to_vec())
}

pub fn archive_folder(app: &TestApp) -> std::path::PathBuf {
    app.settings
        .archive
        .url
        .as_ref()
        .expect("an archive")
        .to_file_path()
        .expect("a folder")
}

#[tokio::test]
async fn artifacts_announced_before_the_session_are_attached_archived_and_served() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let (recording_bytes, transcript_bytes) = (bytes_of(300_000, 1), b"speaker,text\nMary,Hello\n".to_vec());
    let recording_url = fake.add_file("rec-1.mp4", recording_bytes.clone());
    let transcript_url = fake.add_file("s-early.csv", transcript_bytes.clone());

    // The recording and the transcript arrive before meeting.ended.
    let ack = deliver(
        &app,
        recording("s-early", "rec-1", "UPLOADED", Some(&recording_url), 300_000),
    )
    .await;
    assert_eq!(
        (ack["outcome"].as_str(), ack["session_id"].as_str()),
        (Some("stored"), Some("s-early"))
    );
    deliver(&app, announced("transcript", "s-early", &transcript_url)).await;
    assert_eq!(app.get_session("s-early").await.status(), 404);
    assert_eq!(
        app.count("followup_jobs").await,
        0,
        "no archive before the session exists"
    );

    deliver(&app, ended("s-early", "m-1", "2026-06-03T10:30:00.000Z")).await;
    let before = session(&app, "s-early").await;
    assert_eq!(before["artifacts"]["recordings"][0]["files"][0]["state"], "announced");
    assert_eq!(before["artifacts"]["transcript"]["state"], "announced");
    assert!(before["artifacts"]["summary"].is_null() && before["artifacts"]["chat"].is_null());
    assert!(
        !before.to_string().contains("X-Amz-Signature"),
        "source URLs are never shown: {before}"
    );
    assert_eq!(
        download(&app, "/sessions/s-early/artifacts/transcript").await.0,
        404,
        "not archived yet"
    );

    assert_eq!(app.run_pending_jobs().await, 1);
    let after = session(&app, "s-early").await;
    let recording = &after["artifacts"]["recordings"][0];
    assert_eq!(recording["recording_id"], "rec-1");
    assert_eq!(recording["type"], "COMPOSITE");
    assert_eq!(recording["status"], "UPLOADED");
    assert_eq!(recording["duration_secs"], 1790);
    let file = &recording["files"][0];
    assert_eq!(file["name"], "composite", "{after}");
    assert_eq!(file["state"], "archived", "{after}");
    assert_eq!(file["size_bytes"], 300_000);
    assert_eq!(file["sha256"], sha256(&recording_bytes));
    assert!(file["archived_at"].is_string() && file["expires_at"].is_string());
    assert_eq!(after["artifacts"]["transcript"]["sha256"], sha256(&transcript_bytes));
    assert!(after["artifacts"]["transcript"].get("recording_id").is_none());

    let (status, content_type, body) = download(&app, "/sessions/s-early/artifacts/recordings/rec-1").await;
    assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
    assert_eq!(body, recording_bytes);
    let (status, content_type, body) = download(&app, "/sessions/s-early/artifacts/transcript").await;
    assert_eq!((status, content_type.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(body, transcript_bytes);
    for missing in [
        "/sessions/s-early/artifacts/summary",
        "/sessions/s-early/artifacts/recordings/rec-2",
    ] {
        assert_eq!(download(&app, missing).await.0, 404, "{missing}");
    }
    assert_eq!(
        app.http
            .get(format!("{}/sessions/s-early/artifacts/transcript", app.address))
            .send()
            .await
            .expect("answer")
            .status(),
        401,
        "downloads need the token"
    );

    // Browsable keys, and the manifest written last with sizes and hashes.
    let folder = archive_folder(&app).join(format!("{ORGANIZATION}/2026/06/03/s-early"));
    assert_eq!(
        std::fs::read(folder.join("recording-rec-1.mp4")).expect("archived"),
        recording_bytes
    );
    assert_eq!(
        std::fs::read(folder.join("transcript.csv")).expect("archived"),
        transcript_bytes
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(folder.join("session.json")).expect("manifest")).expect("JSON");
    assert_eq!(manifest["session"]["session_id"], "s-early");
    let objects: Vec<&str> = manifest["artifacts"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["object"].as_str())
        .collect();
    assert_eq!(objects, ["recording-rec-1.mp4", "transcript.csv"]);
    assert_eq!(manifest["artifacts"][0]["sha256"], sha256(&recording_bytes));

    // The session's deliveries include the events of its artifacts.
    let deliveries: Value = app
        .get_authorized("/deliveries?session_id=s-early")
        .await
        .json()
        .await
        .expect("JSON");
    let mut events: Vec<&str> = (deliveries["data"].as_array().expect("a list").iter())
        .filter_map(|d| d["event"].as_str())
        .collect();
    events.sort_unstable();
    assert_eq!(
        events,
        ["meeting.ended", "meeting.transcript", "recording.statusUpdate"]
    );

    // Archived once: another run downloads nothing again.
    assert_eq!(app.run_pending_jobs().await, 0);
    assert_eq!((fake.downloads("rec-1.mp4"), fake.downloads("s-early.csv")), (1, 1));
}

#[tokio::test]
async fn a_later_status_wins_never_an_earlier_one_and_a_session_keeps_several_recordings() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    deliver(&app, ended("s-rec", "m-2", "2026-06-03T10:30:00.000Z")).await;
    let first = fake.add_file("first.mp4", bytes_of(1000, 2));
    let second = fake.add_file("second.mp4", bytes_of(2000, 3));

    for status in ["INVOKED", "RECORDING"] {
        assert_eq!(
            deliver(&app, recording("s-rec", "rec-a", status, None, 0)).await["outcome"],
            "stored"
        );
    }
    // Nothing to archive while the recording is not uploaded: the job runs and finds nothing.
    app.run_pending_jobs().await;
    let pending = &session(&app, "s-rec").await["artifacts"]["recordings"][0];
    assert_eq!(pending["status"], "RECORDING");
    assert_eq!(pending["files"], json!([]), "no file until it is uploaded");

    assert_eq!(
        deliver(&app, recording("s-rec", "rec-a", "UPLOADED", Some(&first), 1000)).await["outcome"],
        "stored"
    );
    // A late UPLOADING (delivered out of order) changes nothing; a repeat of UPLOADED neither.
    assert_eq!(
        deliver(&app, recording("s-rec", "rec-a", "UPLOADING", None, 0)).await["outcome"],
        "duplicate"
    );
    assert_eq!(
        deliver(&app, recording("s-rec", "rec-a", "UPLOADED", Some(&first), 1000)).await["outcome"],
        "duplicate"
    );
    deliver(&app, recording("s-rec", "rec-b", "UPLOADED", Some(&second), 2000)).await;
    app.run_pending_jobs().await;

    let record = session(&app, "s-rec").await;
    let recordings = record["artifacts"]["recordings"].as_array().expect("a list");
    assert_eq!(recordings.len(), 2);
    for (recording, expected) in recordings.iter().zip([("rec-a", 1000), ("rec-b", 2000)]) {
        assert_eq!(
            (recording["recording_id"].as_str(), recording["status"].as_str()),
            (Some(expected.0), Some("UPLOADED"))
        );
        assert_eq!(
            (
                recording["files"][0]["state"].as_str(),
                recording["files"][0]["size_bytes"].as_i64()
            ),
            (Some("archived"), Some(expected.1))
        );
    }
    // The session's archive job ran again for each new artifact, and is done.
    let jobs = app.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].1.as_str(), jobs[0].2.as_str()), ("archive", "succeeded"));

    // The filters find sessions by what they left behind.
    let with: Value = app
        .get_sessions("?has_recording=true")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(with["data"].as_array().map(Vec::len), Some(1));
    let without: Value = app
        .get_sessions("?has_transcript=true")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(without["data"].as_array().map(Vec::len), Some(0));
    let refused = app.get_sessions("?has_summary=yes").await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn an_expired_url_is_renewed_through_the_api_and_a_deleted_artifact_is_lost_for_good() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let recording_bytes = bytes_of(5000, 4);
    let recording_url = fake.add_file("renewed.mp4", recording_bytes.clone());
    fake.add_recording("rec-x", "s-exp", "m-3", "renewed.mp4");
    let summary_url = fake.add_file("gone.md", b"# Summary".to_vec());
    fake.add_session_file("s-exp", "summary", "gone.md");
    deliver(&app, ended("s-exp", "m-3", "2026-06-03T10:30:00.000Z")).await;
    deliver(
        &app,
        recording("s-exp", "rec-x", "UPLOADED", Some(&recording_url), 5000),
    )
    .await;
    deliver(&app, announced("summary", "s-exp", &summary_url)).await;

    fake.expire("renewed.mp4");
    fake.delete("gone.md");
    app.run_pending_jobs().await;

    let record = session(&app, "s-exp").await;
    assert_eq!(
        record["artifacts"]["recordings"][0]["files"][0]["state"], "archived",
        "{record}"
    );
    assert_eq!(
        record["artifacts"]["recordings"][0]["files"][0]["sha256"],
        sha256(&recording_bytes)
    );
    let summary = &record["artifacts"]["summary"];
    assert_eq!(summary["state"], "lost");
    assert!(
        summary["error"].as_str().is_some_and(|e| e.contains("no longer has")),
        "{summary}"
    );
    let calls = fake.calls();
    assert!(
        calls.contains(&("GET".to_owned(), "recordings/rec-x".to_owned())),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("GET".to_owned(), "sessions/s-exp/summary".to_owned())),
        "{calls:?}"
    );
    // A lost artifact does not keep the job failing, is counted, and is never tried again.
    assert_eq!(app.jobs().await[0].2, "succeeded");
    let metrics = app.get_authorized("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("rtk_artifacts_lost_total{kind=\"summary\"}"),
        "{metrics}"
    );
    app.make_jobs_due().await;
    assert_eq!(app.run_pending_jobs().await, 0);
    assert_eq!(fake.downloads("gone.md"), 0);
}

#[tokio::test]
async fn an_archive_that_died_halfway_is_taken_over_and_completes_once() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let bytes = bytes_of(20_000, 5);
    let url = fake.add_file("crash.mp4", bytes.clone());
    deliver(&app, ended("s-crash", "m-4", "2026-06-03T10:30:00.000Z")).await;
    deliver(&app, recording("s-crash", "rec-c", "UPLOADED", Some(&url), 20_000)).await;

    // A worker claims the job, starts the copy, and dies: its lease runs out with the artifact half done.
    let claimed = rtk_sessions::claim_jobs(&app.db, rtk_sessions::JobSlots::Archive, 1, 0.2)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    sqlx::query("UPDATE artifacts SET state = 'archiving'")
        .execute(&app.db)
        .await
        .expect("update");
    let half = archive_folder(&app).join(format!("{ORGANIZATION}/2026/06/03/s-crash"));
    std::fs::create_dir_all(&half).expect("folder");
    std::fs::write(half.join("recording-rec-c.mp4"), &bytes[..7000]).expect("a partial object");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    // Another worker takes it over after the lease and finishes it.
    assert_eq!(app.run_pending_jobs().await, 1);
    let record = session(&app, "s-crash").await;
    assert_eq!(record["artifacts"]["recordings"][0]["files"][0]["state"], "archived");
    assert_eq!(std::fs::read(half.join("recording-rec-c.mp4")).expect("object"), bytes);
    assert_eq!(app.run_pending_jobs().await, 0);
    assert_eq!(
        fake.downloads("crash.mp4"),
        1,
        "the completed object is not copied twice"
    );
}

#[tokio::test]
async fn reconciliation_records_the_session_of_orphan_artifacts_and_finds_artifacts_whose_events_never_came() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let two_hours_ago = (Utc::now() - TimeDelta::hours(2)).to_rfc3339();

    // A session delivered without any artifact event; the API knows its recording and its chat.
    deliver(&app, ended("s-quiet", "m-5", &two_hours_ago)).await;
    fake.add_file("quiet.mp4", bytes_of(3000, 6));
    fake.add_recording("rec-q", "s-quiet", "m-5", "quiet.mp4");
    fake.add_file("quiet-chat.csv", b"at,who,text\n".to_vec());
    fake.add_session_file("s-quiet", "chat", "quiet-chat.csv");

    // A transcript for a session whose meeting.ended never came, announced a while ago.
    let url = fake.add_file("orphan.csv", b"speaker,text\n".to_vec());
    deliver(&app, announced("transcript", "s-orphan", &url)).await;
    sqlx::query("UPDATE artifacts SET announced_at = now() - interval '1 hour' WHERE session_id = 's-orphan'")
        .execute(&app.db)
        .await
        .expect("update");
    fake.with(|s| {
        s.unlisted_sessions.push(json!({
            "id": "s-orphan", "associated_id": "m-6", "status": "ENDED", "organization_id": ORGANIZATION,
            "started_at": "2026-06-03T10:00:00Z", "ended_at": "2026-06-03T10:30:00Z"
        }))
    });

    let report = rtk_sessions::reconcile_sweep(
        &app.db,
        &fake.clients(GOOD_TOKEN),
        None,
        Utc::now(),
        &app.job_specs(),
        10,
    )
    .await
    .expect("sweep");
    assert_eq!(report.recorded_for_artifacts, 1);
    assert_eq!(report.artifacts_found, 2, "{report:?}");
    app.run_pending_jobs().await;

    let quiet = session(&app, "s-quiet").await;
    assert_eq!(
        quiet["artifacts"]["recordings"][0]["files"][0]["state"], "archived",
        "{quiet}"
    );
    assert_eq!(quiet["artifacts"]["chat"]["state"], "archived");
    let orphan = session(&app, "s-orphan").await;
    assert_eq!(orphan["source"], "reconciliation");
    assert_eq!(orphan["artifacts"]["transcript"]["state"], "archived");

    // Each session is asked about once.
    let again = rtk_sessions::reconcile_sweep(
        &app.db,
        &fake.clients(GOOD_TOKEN),
        None,
        Utc::now(),
        &app.job_specs(),
        10,
    )
    .await
    .expect("sweep");
    assert_eq!((again.sessions_checked_for_artifacts, again.artifacts_found), (0, 0));
}

#[tokio::test]
async fn the_report_includes_the_archived_summary_and_links_to_the_archive() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_report(&fake).await;
    crate::followups::serve_session_to_fake(&fake, "s-report").await;
    let summary_url = fake.add_file("summary.md", b"## Decisions\n- Ship it".to_vec());
    let recording_url = fake.add_file("report.mp4", bytes_of(100, 7));
    deliver(&app, ended("s-report", "m", "2026-06-03T10:30:00.000Z")).await;
    app.run_pending_jobs().await;

    // The summary comes minutes later: once archived, the report is made again with it.
    deliver(&app, announced("summary", "s-report", &summary_url)).await;
    deliver(
        &app,
        recording("s-report", "rec-r", "UPLOADED", Some(&recording_url), 100),
    )
    .await;
    app.run_pending_jobs().await;

    let report: Value = app
        .get_authorized("/sessions/s-report/report")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(report["summary"], "## Decisions\n- Ship it", "{report}");
    assert_eq!(
        report["links"],
        json!([{"kind": "recording", "url": "https://sessions.example.com/sessions/s-report/artifacts/recordings/rec-r"}])
    );
}

#[tokio::test]
async fn unusable_artifact_events_are_kept_and_the_at_risk_list_shows_what_expires_soon() {
    let fake = FakeCloudflare::start().await;
    let app = app_with_fake(&fake).await;
    let no_session = json!({"event": "meeting.summary", "summaryDownloadUrl": "https://x.example/s.md",
                            "organizedBy": {"id": ORGANIZATION}});
    let ack = deliver(&app, no_session.to_string().into_bytes()).await;
    assert_eq!(ack["outcome"], "unprocessable");

    // A transcript whose URL expires in a day, for a session that is not recorded: at risk.
    let url = fake.add_file("risk.csv", b"x".to_vec());
    deliver(&app, announced("transcript", "s-risk", &url)).await;
    sqlx::query("UPDATE artifacts SET expires_at = now() + interval '1 day'")
        .execute(&app.db)
        .await
        .expect("update");
    let output = rtk(&app, &["artifacts", "list", "--at-risk", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let line: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(
        (line["session_id"].as_str(), line["kind"].as_str()),
        (Some("s-risk"), Some("transcript"))
    );
    let within_an_hour = rtk(&app, &["artifacts", "list", "--at-risk", "--within-hours", "1"]);
    assert_eq!(String::from_utf8_lossy(&within_an_hour.stdout).trim(), "no artifacts");
}

#[tokio::test]
async fn an_archive_job_retries_while_its_files_can_be_saved_and_a_deleted_file_is_marked_lost() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|settings| {
        fake.configure(settings);
        settings.worker.enabled = false;
        settings.worker.max_attempts = std::num::NonZero::new(2).expect("above 0");
    })
    .await;
    let url = fake.add_file("outage.mp4", bytes_of(3000, 6));
    deliver(&app, ended("s-outage", "m-6", "2026-06-03T10:30:00.000Z")).await;
    deliver(&app, recording("s-outage", "rec-o", "UPLOADED", Some(&url), 3000)).await;
    sqlx::query("UPDATE artifacts SET expires_at = now() + interval '6 days'")
        .execute(&app.db)
        .await
        .expect("update");

    // RealtimeKit's store is down for longer than worker.max_attempts: the job keeps retrying, the file is days
    // from expiring.
    fake.make_unavailable("outage.mp4", true);
    for _ in 0..4 {
        app.make_jobs_due().await;
        app.run_pending_jobs().await;
    }
    let (_, _, status, attempts, _) = app.jobs().await.remove(0);
    assert_eq!((status.as_str(), attempts), ("queued", 4), "past max_attempts (2)");

    // An hour before the file expires it stops, and the at-risk page says the job is dead, with a Retry.
    sqlx::query("UPDATE artifacts SET expires_at = now() + interval '30 minutes'")
        .execute(&app.db)
        .await
        .expect("update");
    app.make_jobs_due().await;
    app.run_pending_jobs().await;
    assert_eq!(app.jobs().await[0].2, "dead");
    let mut console = crate::console::ConsoleClient::new(&app.address);
    console.sign_in(crate::helpers::API_TOKEN).await;
    let page = console.get("/console/artifacts").await.body;
    assert!(page.contains("rec-o") && page.contains("badge dead"), "{page}");
    assert!(page.contains("/retry"), "{page}");
    // The overview's count of failed files leads to them.
    let failed = console.get("/console/artifacts?state=failed").await;
    assert!(failed.status == 200 && failed.body.contains("rec-o"), "{}", failed.body);
    assert_eq!(console.get("/console/artifacts?state=archived").await.status, 400);

    // Once RealtimeKit's 7 days are over the file is lost, not failed, and leaves the at-risk list.
    sqlx::query("UPDATE artifacts SET expires_at = now() - interval '1 day', announced_at = now() - interval '8 days'")
        .execute(&app.db)
        .await
        .expect("update");
    let lost = rtk_sessions::mark_expired_artifacts_lost(&app.db).await.expect("sweep");
    assert_eq!(lost.len(), 1);
    let record = session(&app, "s-outage").await;
    let file = &record["artifacts"]["recordings"][0]["files"][0];
    assert_eq!(file["state"], "lost", "{record}");
    assert!(
        file["error"]
            .as_str()
            .is_some_and(|e| e.contains("RealtimeKit deleted it")),
        "{file}"
    );
    let page = console.get("/console/artifacts").await.body;
    assert!(page.contains("No artifact is at risk."), "{page}");
    assert!(
        rtk_sessions::mark_expired_artifacts_lost(&app.db)
            .await
            .expect("sweep")
            .is_empty(),
        "marked once"
    );
}
