//! The archive on an S3-compatible store: the real binary, configured the way an operator configures S3, R2 or MinIO
//! (`archive.url = "s3://bucket/prefix"` and the usual `AWS_*` variables), against a real S3-protocol server: the
//! one at `TEST_S3_ENDPOINT`, or a `moto_server` the test starts (`pip install 'moto[server]'`).

use std::process::Stdio;
use std::time::Duration;

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::artifacts::{announced, bytes_of, ended, recording};
use crate::binary::{KillOnDrop, command, free_port, moto_server, wait_ready};
use crate::cloudflare_fake::{ACCOUNT, APP, FakeCloudflare, GOOD_TOKEN};
use crate::helpers::{drop_database, realtimekit_signer};

const BUCKET: &str = "rtk-archive";

/// An S3-protocol server for the test: `TEST_S3_ENDPOINT` when set, or a `moto_server` of its own.
struct S3Server {
    endpoint: String,
    _process: Option<KillOnDrop>,
}

impl S3Server {
    async fn start() -> Self {
        if let Ok(endpoint) = std::env::var("TEST_S3_ENDPOINT") {
            return Self {
                endpoint,
                _process: None,
            };
        }
        let (endpoint, process) = moto_server().await;
        Self {
            endpoint,
            _process: Some(process),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_archived_to_an_s3_compatible_store_and_served_from_it() {
    let s3 = S3Server::start().await;
    let http = reqwest::Client::new();
    let bucket = format!("{}/{BUCKET}", s3.endpoint);
    assert!(
        http.put(&bucket)
            .send()
            .await
            .expect("S3 answers")
            .status()
            .is_success()
    );

    let fake = FakeCloudflare::start().await;
    let recording_bytes = bytes_of(12 * 1024 * 1024 + 17, 9); // more than one 8 MiB part
    let recording_url = fake.add_file("s3.mp4", recording_bytes.clone());
    let chat_url = fake.add_file("s3-chat.csv", b"at,who,text\n10:01,Mary,hi\n".to_vec());

    let database = format!("rtk_s3_{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("{database}.log"));
    let log = std::fs::File::create(&log_path).expect("a log file");
    let serve = command(&database)
        .arg("serve")
        .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env(
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_PEM",
            realtimekit_signer().public_key_pem().expect("pem"),
        )
        .env("RTK_SESSIONS__REALTIMEKIT__API_BASE", fake.api_base())
        .env("RTK_SESSIONS__REALTIMEKIT__ACCOUNT_ID", ACCOUNT)
        .env("RTK_SESSIONS__REALTIMEKIT__APP_ID", APP)
        .env("CLOUDFLARE_API_TOKEN", GOOD_TOKEN)
        .env("RTK_SESSIONS__REGISTRATION__ENABLED", "false")
        .env("RTK_SESSIONS__RECONCILE__ENABLED", "false")
        .env("RTK_SESSIONS__WORKER__POLL_INTERVAL_SECS", "1")
        .env("RTK_SESSIONS__ARCHIVE__URL", format!("s3://{BUCKET}/archive"))
        .env("AWS_ENDPOINT", &s3.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test-key")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve starts");
    let _serve = KillOnDrop(serve);
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let deliver = async |body: Vec<u8>| {
        let delivery = rtk_sessions::SignedDelivery::new(realtimekit_signer(), body);
        let response = delivery
            .request(&http, &format!("{base}/webhooks/realtimekit"))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 200);
    };
    deliver(ended("s-s3", "m-s3", "2026-06-03T10:30:00.000Z")).await;
    deliver(recording(
        "s-s3",
        "rec-s",
        "UPLOADED",
        Some(&recording_url),
        recording_bytes.len(),
    ))
    .await;
    deliver(announced("chat", "s-s3", &chat_url)).await;

    // The worker inside `serve` archives both.
    let mut record = Value::Null;
    for _ in 0..300 {
        let response = http
            .get(format!("{base}/sessions/s-s3"))
            .bearer_auth("binary-token-0123456789abcdef0123456789")
            .send()
            .await;
        record = response.expect("answers").json().await.expect("JSON");
        let states = [
            &record["artifacts"]["recordings"][0]["files"][0]["state"],
            &record["artifacts"]["chat"]["state"],
        ];
        if states.iter().all(|s| *s == "archived") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sha = hex::encode(Sha256::digest(&recording_bytes));
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(
        record["artifacts"]["recordings"][0]["files"][0]["sha256"],
        sha,
        "{record}\n{}",
        log()
    );
    assert_eq!(record["artifacts"]["chat"]["state"], "archived", "{record}");

    // The objects are in the bucket under browsable keys, the manifest beside them (read with signed requests, as
    // any S3 client reads them).
    let store = AmazonS3Builder::new()
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id("test-key")
        .with_secret_access_key("test-secret")
        .build()
        .expect("an S3 client");
    let folder = "archive/c94c437b-592a-4a39-b9e2-47ef1451e43b/2026/06/03/s-s3";
    let read = async |name: &str| {
        let object = store.get(&Path::from(format!("{folder}/{name}"))).await.ok()?;
        object.bytes().await.ok()
    };
    let archived = read("recording-rec-s.mp4")
        .await
        .expect("the recording is in the bucket");
    assert_eq!(archived.as_ref(), recording_bytes.as_slice());
    // The manifest is written last, just after the artifacts are marked archived.
    let mut manifest = Value::Null;
    for _ in 0..100 {
        if let Some(bytes) = read("session.json").await {
            manifest = serde_json::from_slice(&bytes).expect("the manifest is JSON");
        }
        if manifest["artifacts"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        manifest["artifacts"].as_array().map(Vec::len),
        Some(2),
        "{manifest}\n{}",
        log()
    );

    // And the service streams them back from the store.
    let served = http
        .get(format!("{base}/sessions/s-s3/artifacts/recordings/rec-s"))
        .bearer_auth("binary-token-0123456789abcdef0123456789")
        .send()
        .await
        .expect("answers");
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.headers().get("content-length").and_then(|v| v.to_str().ok()),
        Some(recording_bytes.len().to_string().as_str())
    );
    assert_eq!(
        served.bytes().await.expect("bytes").as_ref(),
        recording_bytes.as_slice()
    );
    drop_database(&database);
}
