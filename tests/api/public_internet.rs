//! What strangers on the open internet can do to the real binary, over raw sockets: silent and half-open
//! connections, idle keep-alives, more connections than allowed, slow uploads, invented methods and paths. Each test
//! asserts a bounded outcome (closed, answered, unchanged), never a timing.

use std::process::Stdio;
use std::time::Duration;

use futures_util::future::join_all;
use rtk_sessions::WebhookSigner;
use rtk_sessions::{SignedDelivery, sample_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{BINARY, KillOnDrop, command, free_port, run, signer_from, tempdir, wait_ready};
use crate::helpers::drop_database;

const TOKEN: &str = "binary-token-0123456789abcdef0123456789";

/// The real binary, serving with the given settings on a fresh database, with a dev key pinned.
struct Service {
    _child: KillOnDrop,
    port: u16,
    database: String,
    signer: WebhookSigner,
}

impl Drop for Service {
    fn drop(&mut self) {
        drop_database(&self.database);
    }
}

impl Service {
    async fn start(env: &[(&str, &str)]) -> Self {
        let keys = tempdir("internet");
        assert!(
            run(std::process::Command::new(BINARY)
                .args(["dev", "keygen", "--out"])
                .arg(&keys))
            .status
            .success()
        );
        let port = free_port();
        let database = format!("rtk_bin_{}", uuid::Uuid::new_v4().simple());
        let mut command = command(&database);
        command
            .arg("serve")
            .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env(
                "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
                keys.join("rtk-dev-public.pem"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = KillOnDrop(command.spawn().expect("serve starts"));
        wait_ready(port).await;
        Self {
            _child: child,
            port,
            database,
            signer: signer_from(&keys),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect")
    }

    async fn deliver(&self, http: &reqwest::Client) -> reqwest::StatusCode {
        let delivery = SignedDelivery::new(&self.signer, sample_body("meeting.ended"));
        delivery
            .request(http, &self.url("/webhooks/realtimekit"))
            .send()
            .await
            .expect("answered")
            .status()
    }

    async fn metrics(&self) -> String {
        reqwest::Client::new()
            .get(self.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

/// Reads until the server closes the connection (EOF or a reset) and returns what it sent, or `None` if it is
/// still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

fn raise_open_files_limit() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_and_http2_preface_connections_are_all_closed_after_the_header_read_timeout() {
    raise_open_files_limit();
    let service = Service::start(&[("RTK_SESSIONS__SERVER__HEADER_READ_TIMEOUT_SECS", "2")]).await;
    let mut connections = Vec::new();
    for i in 0..1500 {
        let mut stream = service.connect().await;
        match i % 3 {
            0 => {}
            1 => stream
                .write_all(b"GET /sessions HTTP/1.1\r\nHost: x\r\n")
                .await
                .expect("half a head"),
            _ => stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .expect("an HTTP/2 preface"),
        }
        connections.push(stream);
    }

    // 2 s of timeout, and a wide margin for a loaded machine.
    let closed = join_all(
        connections
            .iter_mut()
            .map(|stream| closed_within(stream, Duration::from_secs(20))),
    )
    .await;
    let still_open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(still_open, 0, "{still_open} of 1500 connections still open");

    let http = reqwest::Client::new();
    assert_eq!(service.deliver(&http).await, 200, "the service still serves");
    let metrics = service.metrics().await;
    assert!(
        metrics.contains("rtk_http_connections_closed_by_server_total{reason=\"header_timeout\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let service = Service::start(&[("RTK_SESSIONS__SERVER__IDLE_TIMEOUT_SECS", "1")]).await;
    let mut stream = service.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let received = closed_within(&mut stream, Duration::from_secs(15))
        .await
        .expect("closed once idle");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "answered first: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_new_ones_wait_and_are_served_once_a_slot_frees() {
    let service = Service::start(&[
        ("RTK_SESSIONS__SERVER__MAX_CONNECTIONS", "8"),
        ("RTK_SESSIONS__SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
    ])
    .await;
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(service.connect().await);
    }
    // Every slot is held: a real request waits in the backlog, and is served once the silent ones are closed.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    assert_eq!(service.deliver(&http).await, 200);
    for mut stream in silent {
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_hold_connections_never_the_capacity_that_verified_deliveries_need() {
    raise_open_files_limit();
    let service = Service::start(&[
        ("RTK_SESSIONS__SERVER__MAX_IN_FLIGHT", "64"),
        ("RTK_SESSIONS__SERVER__BODY_READ_TIMEOUT_SECS", "60"),
        ("RTK_SESSIONS__SERVER__REQUEST_TIMEOUT_SECS", "60"),
    ])
    .await;
    let mut uploads = Vec::new();
    for _ in 0..1000 {
        let mut stream = service.connect().await;
        stream
            .write_all(
                b"POST /webhooks/realtimekit HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
                  rtk-signature: AAAA\r\ncontent-length: 200000\r\n\r\n{",
            )
            .await
            .expect("a slow upload");
        uploads.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let http = reqwest::Client::new();
    let statuses = join_all((0..50).map(|_| service.deliver(&http))).await;

    assert!(
        statuses.iter().all(|s| *s == 200),
        "every verified delivery is recorded while 1,000 uploads trickle: {statuses:?}"
    );
    drop(uploads);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_a_retryable_503_and_an_oversized_one_a_413_at_once() {
    let service = Service::start(&[("RTK_SESSIONS__SERVER__BODY_READ_TIMEOUT_SECS", "1")]).await;
    let mut stream = service.connect().await;
    stream
        .write_all(
            b"POST /webhooks/realtimekit HTTP/1.1\r\nHost: x\r\nrtk-signature: AAAA\r\ncontent-length: 1000\r\n\r\n{",
        )
        .await
        .expect("a stalled upload");
    let answer = closed_within(&mut stream, Duration::from_secs(15))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("body_timeout") && text.to_lowercase().contains("retry-after"),
        "{text}"
    );

    let mut stream = service.connect().await;
    stream
        .write_all(
            b"POST /webhooks/realtimekit HTTP/1.1\r\nHost: x\r\nrtk-signature: AAAA\r\ncontent-length: 1000000\r\n\r\n{",
        )
        .await
        .expect("an oversized upload");
    let answer = closed_within(&mut stream, Duration::from_secs(15))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

/// The series `/metrics` holds: each line that is not a comment, with its value cut off.
fn series(metrics: &str) -> std::collections::BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_and_paths_never_grow_the_metrics() {
    let service = Service::start(&[]).await;
    let http = reqwest::Client::new();
    let send = |method: String, path: String| {
        let http = http.clone();
        let url = service.url(&path);
        async move {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a token");
            let _ = http.request(method, url).bearer_auth(TOKEN).send().await;
        }
    };
    // Every kind of answer once, so that the series that can exist do.
    for (method, path) in [
        ("X0", "/p0/x"),
        ("GET", "/p0/x"),
        ("X0", "/sessions"),
        ("X0", "/healthz"),
    ] {
        send(method.to_owned(), path.to_owned()).await;
    }
    let _ = service.metrics().await;
    let before = service.metrics().await;

    for chunk in 0..30 {
        join_all((0..100).map(|i| {
            let n = chunk * 100 + i;
            send(format!("X{n}Q"), format!("/p{n}/x{}", n * 7))
        }))
        .await;
    }
    let after = service.metrics().await;

    assert_eq!(
        series(&before),
        series(&after),
        "3,000 invented requests added no series"
    );
    assert!(
        after.len() < before.len() + 512,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_calling_readyz_cost_at_most_one_database_query_a_second() {
    let service = Service::start(&[]).await;
    let checks = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("rtk_readiness_database_checks_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let before = checks(&service.metrics().await);
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let statuses = join_all((0..500).map(|_| {
        let http = http.clone();
        let url = service.url("/readyz");
        async move { http.get(url).send().await.expect("answers").status() }
    }))
    .await;
    let seconds = started.elapsed().as_secs() + 1;
    let after = checks(&service.metrics().await);

    assert!(statuses.iter().all(|s| *s == 200));
    assert!(
        after - before <= seconds + 1,
        "{} database queries for 500 readiness calls in {seconds} s",
        after - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_show_and_replay_deliveries_from_the_command_line() {
    let service = Service::start(&[]).await;
    let body = b"\x01 not json at all".to_vec();
    let delivery = SignedDelivery::new(&service.signer, body.clone());
    let response = delivery
        .request(&reqwest::Client::new(), &service.url("/webhooks/realtimekit"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let cli = |args: &[&str]| {
        let output = command(&service.database).args(args).output().expect("runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };

    let listed = tokio::task::block_in_place(|| cli(&["deliveries", "list", "--outcome", "unprocessable"]));
    let listed = String::from_utf8_lossy(&listed).to_string();
    assert!(
        listed.starts_with("RECEIVED") && listed.contains(&delivery.delivery_id),
        "{listed}"
    );
    let shown = tokio::task::block_in_place(|| cli(&["deliveries", "show", &delivery.delivery_id, "--raw"]));
    assert_eq!(shown, body, "--raw writes the exact bytes");
    let shown = tokio::task::block_in_place(|| cli(&["deliveries", "show", &delivery.delivery_id]));
    let shown = String::from_utf8_lossy(&shown).to_string();
    assert!(
        shown.contains("outcome             unprocessable") && shown.ends_with("\n\n\u{1} not json at all\n"),
        "its fields, then its body: {shown}"
    );
    // Still unprocessable after the replay: the command says so and fails, so a script notices.
    let replayed = tokio::task::block_in_place(|| {
        command(&service.database)
            .args(["deliveries", "replay", &delivery.delivery_id, "--json"])
            .output()
            .expect("runs")
    });
    assert_eq!(replayed.status.code(), Some(1));
    let replayed: serde_json::Value = serde_json::from_slice(&replayed.stdout).expect("json");
    assert_eq!(replayed["outcome"], "unprocessable");
    let empty = tokio::task::block_in_place(|| cli(&["deliveries", "list", "--outcome", "stored"]));
    assert_eq!(String::from_utf8_lossy(&empty).trim(), "no deliveries");
}
