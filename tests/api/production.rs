//! Production readiness: metrics, load shedding, every operator route behind the token, retention, and nothing lost
//! when the database goes away mid-load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{API_TOKEN, spawn_app, spawn_app_with, status_and_json};
use rtk_sessions::SignedDelivery;

#[tokio::test]
async fn metrics_count_deliveries_by_outcome_and_rejections_by_reason_behind_the_token() {
    let app = spawn_app().await;
    assert_eq!(app.deliver(&app.meeting_ended()).await.status(), 200);
    let forged = SignedDelivery::new(crate::helpers::other_signer(), app.meeting_ended().body);
    assert_eq!(app.deliver(&forged).await.status(), 401);

    let unauthorized = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(unauthorized.status(), 401);
    let response = app.get_authorized("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    for expected in [
        "rtk_deliveries_total{outcome=\"stored\",app=\"\"}",
        "rtk_deliveries_rejected_total{reason=\"invalid_signature\"}",
        "rtk_signature_verification_failures_total",
        "rtk_http_request_duration_seconds_bucket{route=\"/webhooks/realtimekit\",method=\"POST\",status=\"200\"",
        "rtk_ingest_batch_size",
        "# TYPE rtk_deliveries_total counter",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains(API_TOKEN));
}

/// The value of an unlabelled gauge in a Prometheus text page.
fn gauge_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn metrics_compare_postgres_shared_buffers_with_the_indexes_that_take_rows_at_random() {
    let app = spawn_app().await;
    assert_eq!(app.deliver(&app.meeting_ended()).await.status(), 200);
    let shared_buffers: i64 = sqlx::query_scalar("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        .fetch_one(&app.db)
        .await
        .expect("the setting");

    // Sampled once the database is migrated: wait for the first sample.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = app.get_authorized("/metrics").await.text().await.expect("body");
        if text.contains("rtk_postgres_random_insert_index_bytes ") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sample of the buffers' fit:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        gauge_value(&text, "rtk_postgres_shared_buffers_bytes"),
        Some(shared_buffers as f64)
    );
    // Five indexes (the sessions' id and meeting id, the jobs' occurrence key, this month's two delivery keys), each
    // at least its metapage; every test's database has them, whichever sampled last.
    let indexes = gauge_value(&text, "rtk_postgres_random_insert_index_bytes").expect("a value");
    assert!(indexes >= 5.0 * 8192.0, "{indexes}");
    assert!(indexes < shared_buffers as f64 / 2.0, "{indexes} of {shared_buffers}");
}

#[tokio::test]
async fn a_separate_metrics_address_serves_metrics_without_a_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let _app =
        spawn_app_with(|s| s.server.metrics_bind = Some(format!("127.0.0.1:{port}").parse().expect("an address")))
            .await;
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("body").contains("rtk_"));
}

#[tokio::test]
async fn a_burst_beyond_capacity_is_shed_at_once_with_503_and_retry_after_while_health_answers() {
    let app = spawn_app_with(|s| {
        s.server.max_in_flight = std::num::NonZero::new(2).expect("above 0");
        s.ingest.batch_max = std::num::NonZero::new(1).expect("above 0");
    })
    .await;
    // Two deliveries hold both slots: the database makes them wait.
    let mut blocker = app.db.begin().await.expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let held: Vec<_> = (0..2)
        .map(|_| {
            let request = app.meeting_ended().request(&app.http, &app.webhook_url());
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let burst: Vec<SignedDelivery> = (0..20).map(|_| app.meeting_ended()).collect();
    let answers = join_all(burst.iter().map(|d| async {
        let response = app.deliver(d).await;
        (
            response.status().as_u16(),
            response.headers().get("retry-after").cloned(),
        )
    }))
    .await;

    assert!(
        answers.iter().all(|(status, retry)| *status == 503 && retry.is_some()),
        "{answers:?}"
    );
    assert!(
        held.iter().all(|task| !task.is_finished()),
        "the shed answers came while the slots were still busy"
    );
    let health = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), 200, "health checks are never shed");

    blocker.rollback().await.expect("unlock");
    for task in held {
        assert_eq!(task.await.expect("task").expect("answered"), 200);
    }
    // The shed deliveries come back (RealtimeKit retries 5xx) and are stored.
    for delivery in &burst {
        assert_eq!(app.deliver(delivery).await.status(), 200);
    }
    assert_eq!(app.count("sessions").await, 22);
}

#[tokio::test]
async fn every_route_except_the_receiver_and_health_checks_needs_the_token() {
    let app = spawn_app().await;
    // Known operator routes and paths that do not exist: all refuse without a token, so a new route cannot forget.
    let cases = [
        ("GET", "/sessions"),
        ("GET", "/sessions/abc"),
        ("GET", "/sessions/abc/report"),
        ("GET", "/followups"),
        ("POST", "/followups/1/retry"),
        ("POST", "/meetings/m/end"),
        ("GET", "/metrics"),
        ("GET", "/admin"),
        ("DELETE", "/sessions/abc"),
        ("GET", "/webhooks"),
        ("GET", "/healthz/extra"),
    ];
    for (method, path) in cases {
        let request = app
            .http
            .request(method.parse().expect("method"), format!("{}{path}", app.address));
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{method} {path}");
        let wrong = app
            .http
            .request(method.parse().expect("method"), format!("{}{path}", app.address))
            .bearer_auth("not-the-token")
            .send()
            .await
            .expect("answers");
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong token");
    }
    for public in ["/healthz", "/readyz"] {
        assert_eq!(
            app.http
                .get(format!("{}{public}", app.address))
                .send()
                .await
                .expect("ok")
                .status(),
            200
        );
    }
    assert_eq!(
        rtk_sessions::PUBLIC_PATHS,
        ["/webhooks/realtimekit", "/healthz", "/readyz", "/openapi.json"]
    );
}

#[tokio::test]
async fn the_retention_sweep_removes_old_deliveries_but_never_sessions() {
    let app = spawn_app().await;
    for _ in 0..3 {
        assert_eq!(app.deliver(&app.meeting_ended()).await.status(), 200);
    }
    sqlx::query("UPDATE deliveries SET received_at = now() - interval '40 days' WHERE delivery_id IN (SELECT delivery_id FROM deliveries LIMIT 2)")
        .execute(&app.db)
        .await
        .expect("age two deliveries");

    let unusable = app.signed(b"not json".to_vec());
    assert_eq!(app.deliver(&unusable).await.status(), 200);
    sqlx::query("UPDATE deliveries SET received_at = now() - interval '400 days' WHERE status = 'unprocessable'")
        .execute(&app.db)
        .await
        .expect("age the unprocessable delivery");

    let mut retention = app.settings.retention.clone();
    (retention.deliveries_days, retention.unprocessable_days) = (30, 0);
    let removed = rtk_sessions::sweep_deliveries(&app.db, &retention)
        .await
        .expect("sweep");

    assert_eq!(removed.rows_deleted, 2, "unprocessable deliveries wait for an operator");
    assert_eq!(app.count("deliveries").await, 2);
    assert_eq!(app.count("sessions").await, 3);
    assert_eq!(
        app.delivery_status(&unusable.delivery_id).await.as_deref(),
        Some("unprocessable")
    );

    retention.unprocessable_days = 365;
    let removed = rtk_sessions::sweep_deliveries(&app.db, &retention)
        .await
        .expect("sweep");
    assert_eq!(removed.rows_deleted, 1, "retention.unprocessable_days removes them too");
    assert_eq!(app.delivery_status(&unusable.delivery_id).await, None);
}

/// A TCP relay between the service and Postgres that the test can sever and restore.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(tokio::sync::watch::Sender::new(0_u64));
        let (up2, generation2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // Refused: dropped at once.
                }
                let target = target.clone();
                let mut severed = generation2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = severed.changed() => {}
                    }
                });
            }
        });
        Self { port, up, generation }
    }

    fn sever(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_outage_mid_load_gives_only_retryable_503s_and_nothing_is_lost_after_it() {
    let server = reqwest::Url::parse(
        &std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    )
    .expect("url");
    let relay = Relay::start(format!(
        "{}:{}",
        server.host_str().unwrap_or("127.0.0.1"),
        server.port().unwrap_or(5432)
    ))
    .await;
    let app = spawn_app_with(|s| {
        let mut url = server.clone();
        url.set_port(Some(relay.port)).expect("port");
        url.set_path(&format!("/rtk_test_{}", uuid::Uuid::new_v4().simple()));
        s.database.url = rtk_sessions::Secret::new(url.to_string());
        s.database.acquire_timeout = std::time::Duration::from_secs(1);
        s.server.request_timeout = std::time::Duration::from_secs(3);
    })
    .await;
    let deliveries: Vec<SignedDelivery> = (0..60).map(|_| app.meeting_ended()).collect();

    // Deliveries keep arriving; the database goes away in the middle, then comes back.
    let mut answers = Vec::new();
    for (i, delivery) in deliveries.iter().enumerate() {
        if i == 20 {
            relay.sever();
        }
        if i == 40 {
            relay.restore();
        }
        let sent = std::time::Instant::now();
        let response = app.deliver(delivery).await;
        let status = response.status().as_u16();
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "no answer takes longer than the request timeout"
        );
        if status != 200 {
            assert_eq!(status, 503, "only retryable answers during the outage");
            assert!(response.headers().contains_key("retry-after"));
        }
        answers.push(status);
    }
    assert!(answers[20..40].contains(&503), "the outage was seen: {answers:?}");

    // RealtimeKit retries every 5xx; the service recovered without a restart.
    let mut pending: Vec<&SignedDelivery> = deliveries
        .iter()
        .zip(&answers)
        .filter(|(_, s)| **s != 200)
        .map(|(d, _)| d)
        .collect();
    for _ in 0..20 {
        let mut still = Vec::new();
        for delivery in pending {
            if app.deliver(delivery).await.status() != 200 {
                still.push(delivery);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(pending.is_empty(), "{} deliveries never got through", pending.len());
    let (status, page) = status_and_json(app.get_sessions("?limit=500").await).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["data"].as_array().map(Vec::len),
        Some(60),
        "every delivery stored once"
    );
}

#[tokio::test]
async fn slow_clients_cannot_hold_a_connection_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|s| {
        s.server.header_read_timeout = std::time::Duration::from_secs(1);
        s.server.request_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // A request head that never ends: the connection is closed.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"POST /webhooks/realtimekit HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buffer = vec![0_u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server closed a connection whose request head never came"
    );

    // A body that trickles: answered 503 (retryable) once the request timeout passes.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"POST /webhooks/realtimekit HTTP/1.1\r\nHost: x\r\nrtk-signature: AAAA\r\ncontent-length: 1000\r\n\r\n{\"event\"")
        .await
        .expect("write");
    let answered = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await;
    let read = answered
        .expect("answered instead of waiting for the body forever")
        .expect("read");
    let head = String::from_utf8_lossy(&buffer[..read]);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
}
