//! The archive reopens nothing: downloads go only to public https addresses, a trickling source never holds the
//! slots other follow-ups need, ids that look alike never share an object, and an archived object's extension comes
//! from the fixed content-type map.

use std::time::{Duration, Instant};

use rtk_sessions::{FollowupKind, FollowupSettings};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::artifacts::{announced, ended, recording};
use crate::cloudflare_fake::FakeCloudflare;
use crate::helpers::{TestApp, spawn_app_with, status_and_json};

async fn deliver(app: &TestApp, body: Vec<u8>) -> Value {
    let (status, ack) = status_and_json(app.deliver(&app.signed(body)).await).await;
    assert_eq!(status, 200, "{ack}");
    ack
}

async fn artifact_errors(app: &TestApp) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT state, error FROM artifacts ORDER BY session_id")
        .fetch_all(&app.db)
        .await
        .expect("artifacts")
}

#[tokio::test]
async fn downloads_go_only_to_https_urls_on_public_addresses() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| {
        s.worker.enabled = false;
        s.archive.allow_private_sources = false;
    })
    .await;
    let plain = fake.add_file("plain.mp4", b"inside".to_vec());
    let port = fake.server.address().port();
    let sources = [
        ("s-plain", plain),
        ("s-loopback", format!("https://127.0.0.1:{port}/files/plain.mp4")),
        ("s-metadata", "https://169.254.169.254/latest/meta-data/".to_owned()),
        ("s-named", format!("https://localhost:{port}/files/plain.mp4")),
    ];
    for (session, url) in &sources {
        deliver(&app, ended(session, "m", "2026-06-03T10:30:00.000Z")).await;
        deliver(
            &app,
            recording(session, &format!("rec-{session}"), "UPLOADED", Some(url), 6),
        )
        .await;
    }
    app.run_pending_jobs().await;
    let errors = artifact_errors(&app).await;
    assert_eq!(errors.len(), 4);
    for (state, error) in &errors {
        assert_eq!(state, "failed", "{errors:?}");
        let error = error.as_deref().unwrap_or_default();
        assert!(
            error.contains("must be https")
                || error.contains("not a public address")
                || error.contains("no public address"),
            "{error}"
        );
    }
    assert_eq!(fake.downloads("plain.mp4"), 0, "nothing inside the network was fetched");
}

/// A server that answers with a length and then sends one byte every second, for as long as anyone listens.
async fn trickling_source() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request first: an answer before it is a protocol error to the client.
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    if socket.write_all(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    format!("http://{address}/trickle.mp4")
}

#[tokio::test]
async fn trickling_sources_never_hold_the_slots_a_slack_message_needs() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let app = spawn_app_with(|s| {
        s.worker.concurrency = std::num::NonZero::new(4).expect("above 0");
        // Longer than the test: only a notification or a freed slot can bring the message's claim.
        s.worker.poll_interval = Duration::from_secs(120);
        s.followups = vec![FollowupSettings {
            // Only the last session is an hour long: when the archive copies take their slots, no message is
            // waiting beside them.
            min_duration_secs: Some(3600),
            ..FollowupSettings::new(
                FollowupKind::Slack,
                json!({"url": format!("{}/slack", slack.uri())})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
        }];
    })
    .await;
    // Four half-hour sessions whose recordings trickle in (archive jobs that would take every worker slot)...
    let source = trickling_source().await;
    for i in 0..4 {
        let session = format!("s-trickle-{i}");
        deliver(
            &app,
            recording(&session, &format!("rec-{i}"), "UPLOADED", Some(&source), 100_000),
        )
        .await;
        deliver(&app, ended(&session, "m", "2026-06-03T10:30:00.000Z")).await;
    }
    let archives_running = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM followup_jobs WHERE kind = 'archive' AND status = 'running'")
            .fetch_one(&app.db)
            .await
            .expect("count")
    };
    let started = Instant::now();
    while archives_running().await < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the archive copies never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and a new session's Slack message is posted all the same, while they trickle.
    deliver(&app, ended("s-new", "m", "2026-06-03T11:30:00.000Z")).await;
    let started = Instant::now();
    while slack.received_requests().await.unwrap_or_default().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no Slack message while the archive copies trickled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let running = archives_running().await;
    assert!(running <= 2, "archive.concurrency bounds the copies: {running} running");
}

#[tokio::test]
async fn ids_that_look_alike_are_archived_apart_and_served_back_byte_for_byte() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let first = fake.add_file("first.csv", b"speaker,text\nA,the first session\n".to_vec());
    let second = fake.add_file(
        "second.csv",
        b"speaker,text\nB,the second one, longer than the first\n".to_vec(),
    );
    for (session, url) in [("coll/1", &first), ("coll_1", &second)] {
        deliver(&app, ended(session, "m", "2026-06-03T10:30:00.000Z")).await;
        deliver(&app, announced("transcript", session, url)).await;
    }
    app.run_pending_jobs().await;
    for (path, expected) in [
        (
            "/sessions/coll%2F1/artifacts/transcript",
            b"speaker,text\nA,the first session\n".to_vec(),
        ),
        (
            "/sessions/coll_1/artifacts/transcript",
            b"speaker,text\nB,the second one, longer than the first\n".to_vec(),
        ),
    ] {
        let response = app.get_authorized(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.bytes().await.expect("body").to_vec(), expected, "{path}");
    }

    // An object replaced behind our back (another size than archived) is not served as if it were the one.
    let key: String = sqlx::query_scalar("SELECT object_key FROM artifacts WHERE session_id = 'coll_1'")
        .fetch_one(&app.db)
        .await
        .expect("key");
    let folder = app
        .settings
        .archive
        .url
        .as_ref()
        .expect("archive")
        .to_file_path()
        .expect("a folder");
    std::fs::write(folder.join(&key), b"tampered").expect("overwrite");
    let response = app.get_authorized("/sessions/coll_1/artifacts/transcript").await;
    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn an_archived_objects_extension_comes_from_the_content_type_map() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let url = fake.add_file("page.html", b"<script>alert(1)</script>".to_vec());
    deliver(&app, ended("s-ext", "m", "2026-06-03T10:30:00.000Z")).await;
    let mut event: Value =
        serde_json::from_slice(&recording("s-ext", "rec-ext", "UPLOADED", Some(&url), 25)).expect("json");
    event["recording"]["outputFileName"] = json!("page.html");
    deliver(&app, event.to_string().into_bytes()).await;
    app.run_pending_jobs().await;
    let (key, content_type): (String, String) =
        sqlx::query_as("SELECT object_key, content_type FROM artifacts WHERE session_id = 's-ext'")
            .fetch_one(&app.db)
            .await
            .expect("archived");
    assert!(key.ends_with(".mp4"), "{key}");
    assert_eq!(content_type, "video/mp4");
}
