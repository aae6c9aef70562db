//! The real binary: `dev keygen`, `serve`, `dev send`, `healthcheck`, `migrate`, configuration errors, and a clean
//! exit on SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::drop_database;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_rtk-sessions");

pub(crate) fn command(database: &str) -> Command {
    let mut command = Command::new(BINARY);
    let server =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut url = reqwest::Url::parse(&server).expect("url");
    url.set_path(&format!("/{database}"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RTK_SESSIONS__DATABASE__URL", url.as_str())
        .env("RTK_SESSIONS__API__TOKENS", "binary-token-0123456789abcdef0123456789")
        .env(
            "RTK_SESSIONS__ARCHIVE__URL",
            crate::helpers::test_archive_url().as_str(),
        )
        // The fake's files are served over plain http on loopback.
        .env("RTK_SESSIONS__ARCHIVE__ALLOW_PRIVATE_SOURCES", "true")
        .env("RUST_LOG", "info")
        .current_dir(std::env::temp_dir());
    command
}

pub(crate) fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Served {
    child: Child,
    port: u16,
    database: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop_database(&self.database);
    }
}

async fn serve(keys: &Path) -> Served {
    let port = free_port();
    let database = format!("rtk_bin_{}", uuid::Uuid::new_v4().simple());
    let child = command(&database)
        .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env(
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
            keys.join("rtk-dev-public.pem"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let served = Served { child, port, database };
    let ready = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..200 {
        if run(Command::new(BINARY).args(["healthcheck", &ready])).status.success() {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service did not become ready");
}

#[tokio::test]
async fn keygen_serve_send_and_a_clean_exit_on_sigterm() {
    let keys = tempdir("keys");
    let keygen = run(Command::new(BINARY).args(["dev", "keygen", "--out"]).arg(&keys));
    assert!(keygen.status.success(), "{keygen:?}");
    assert!(keys.join("rtk-dev-private.pem").is_file() && keys.join("rtk-dev-public.pem").is_file());

    let mut served = serve(&keys).await;
    let url = format!("http://127.0.0.1:{}/webhooks/realtimekit", served.port);
    let send = run(Command::new(BINARY)
        .args(["dev", "send", "--url", &url, "--private-key"])
        .arg(keys.join("rtk-dev-private.pem")));
    let printed = String::from_utf8_lossy(&send.stdout);
    assert!(send.status.success(), "{printed}");
    assert!(
        printed.contains("200") && printed.contains("\"outcome\":\"stored\""),
        "{printed}"
    );

    let other_event = run(Command::new(BINARY)
        .args([
            "dev",
            "send",
            "--url",
            &format!("http://127.0.0.1:{}", served.port),
            "--event",
            "meeting.started",
            "--private-key",
        ])
        .arg(keys.join("rtk-dev-private.pem")));
    assert!(String::from_utf8_lossy(&other_event.stdout).contains("\"outcome\":\"stored\""));

    let sessions = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/sessions", served.port))
        .bearer_auth("binary-token-0123456789abcdef0123456789")
        .send()
        .await
        .expect("answers");
    let page: serde_json::Value = sessions.json().await.expect("json");
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));

    let terminated = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(terminated.success());
    let status = wait_for_exit(&mut served.child).await;
    assert_eq!(status.code(), Some(0), "SIGTERM stops the service with status 0");
}

#[tokio::test]
async fn healthcheck_fails_when_nothing_answers() {
    let port = free_port();
    let output = run(Command::new(BINARY).args(["healthcheck", &format!("http://127.0.0.1:{port}/readyz")]));
    assert!(!output.status.success());
}

#[tokio::test]
async fn migrate_creates_the_database_and_its_tables_and_exits() {
    let database = format!("rtk_bin_{}", uuid::Uuid::new_v4().simple());
    let output = run(command(&database).arg("migrate"));
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    drop_database(&database);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("migrated"), "{stderr}");
}

#[tokio::test]
async fn configuration_errors_stop_the_start_with_a_message_naming_the_problem() {
    let missing = run(command("unused").args(["--config", "/nonexistent/rtk.toml", "migrate"]));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/rtk.toml"));

    let invalid = run(command("unused")
        .env("RTK_SESSIONS__SERVER__REQUEST_TIMEOUT_SECS", "soon")
        .arg("serve"));
    assert!(!invalid.status.success());
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(stderr.contains("server.request_timeout_secs"), "{stderr}");

    let secret = run(command("unused")
        .env("RTK_SESSIONS__DATABASE__URL", "mysql://user:hunter2@db/x")
        .arg("serve"));
    let stderr = String::from_utf8_lossy(&secret.stderr);
    assert!(
        stderr.contains("database.url") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

async fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service did not stop within 10 seconds of SIGTERM");
}

pub(crate) fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rtk-test-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_end_a_session_and_manage_the_webhook_from_the_command_line() {
    use crate::cloudflare_fake::{ACCOUNT, APP, FakeCloudflare, GOOD_TOKEN, OUR_WEBHOOK_URL, PUBLIC_URL};
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.meetings.insert("m-1".into(), "ACTIVE".into());
        s.active_sessions.insert("m-1".into(), 4);
    });
    let database = format!("rtk_bin_{}", uuid::Uuid::new_v4().simple());
    let with_fake = |command: &mut Command| {
        command
            .env("RTK_SESSIONS__REALTIMEKIT__API_BASE", fake.api_base())
            .env("RTK_SESSIONS__REALTIMEKIT__ACCOUNT_ID", ACCOUNT)
            .env("RTK_SESSIONS__REALTIMEKIT__APP_ID", APP)
            .env("CLOUDFLARE_API_TOKEN", GOOD_TOKEN)
            .env("RTK_SESSIONS__SERVER__PUBLIC_URL", PUBLIC_URL);
    };
    let cli = |args: &[&str]| {
        let mut command = command(&database);
        with_fake(&mut command);
        let output = command.args(args).output().expect("runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };

    let (ok, stdout, stderr) = tokio::task::block_in_place(|| cli(&["meetings", "end", "m-1", "--disable"]));
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), r#"{"kicked_participants_count":4,"disabled":true}"#);

    // Registration takes its lock in the database, which only `serve` and `migrate` create.
    let (ok, _, stderr) = tokio::task::block_in_place(|| cli(&["migrate"]));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = tokio::task::block_in_place(|| cli(&["webhooks", "register"]));
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("created webhook"), "{stdout}");
    let (ok, stdout, _) = tokio::task::block_in_place(|| cli(&["webhooks", "list"]));
    assert!(ok && stdout.contains(OUR_WEBHOOK_URL), "{stdout}");
    let id = fake.webhooks()[0]["id"].as_str().expect("id").to_owned();
    let (ok, _, stderr) = tokio::task::block_in_place(|| cli(&["webhooks", "delete", &id]));
    assert!(ok, "{stderr}");
    assert!(fake.webhooks().is_empty());

    let (ok, _, stderr) = tokio::task::block_in_place(|| cli(&["meetings", "end", "nobody"]));
    assert!(!ok);
    assert!(stderr.contains("no meeting"), "{stderr}");
    drop_database(&database);
}

pub(crate) async fn wait_ready(port: u16) {
    let ready = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..200 {
        if reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service did not become ready");
}

pub(crate) fn signer_from(keys: &Path) -> rtk_sessions::WebhookSigner {
    let pem = std::fs::read_to_string(keys.join("rtk-dev-private.pem")).expect("key");
    rtk_sessions::WebhookSigner::from_pem(&pem).expect("signer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_mid_load_every_acknowledged_delivery_is_stored_once_and_running_followups_are_picked_up() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .mount(&receiver)
        .await;
    let keys = tempdir("crash");
    assert!(
        run(Command::new(BINARY).args(["dev", "keygen", "--out"]).arg(&keys))
            .status
            .success()
    );
    let config = keys.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[worker]\nconcurrency = 32\nlease_secs = 3\nattempt_timeout_secs = 2\npoll_interval_secs = 1\n\n[[followups]]\nkind = \"webhook\"\n\
             url = \"{}/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
            receiver.uri()
        ),
    )
    .expect("config");
    let database = format!("rtk_bin_{}", uuid::Uuid::new_v4().simple());
    let env = [("RTK_SESSIONS__SERVER__SHUTDOWN_GRACE_SECS", "1".to_owned())];
    let (child, port) = spawn_serve_with_config(&database, &keys, &config, &env);
    let mut child = KillOnDrop(child);
    wait_ready(port).await;

    // Eight senders deliver as fast as they can; the service is killed in the middle.
    let signer = Arc::new(signer_from(&keys));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (signer, acked) = (signer.clone(), acked.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let url = format!("http://127.0.0.1:{port}/webhooks/realtimekit");
                for _ in 0..400 {
                    let delivery =
                        rtk_sessions::SignedDelivery::new(&signer, rtk_sessions::sample_body("meeting.ended"));
                    match delivery.request(&http, &url).send().await {
                        Ok(response) if response.status().is_success() => {
                            acked.lock().expect("lock").push(delivery.delivery_id.clone())
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                    // A steady stream, so that the kill lands mid-load with follow-ups running.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaped");
    for sender in senders {
        let _ = sender.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(!acked.is_empty(), "some deliveries were acknowledged before the kill");
    let db = sqlx::PgPool::connect(&database_url_for(&database)).await.expect("db");
    let running: i64 = sqlx::query_scalar("SELECT count(*) FROM followup_jobs WHERE status = 'running'")
        .fetch_one(&db)
        .await
        .expect("count");
    assert!(running > 0, "the kill interrupted running follow-ups");

    let (child, port) = spawn_serve_with_config(&database, &keys, &config, &env);
    let child = KillOnDrop(child);
    wait_ready(port).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE delivery_id = ANY($1)")
        .bind(&acked)
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(
        stored as usize,
        acked.len(),
        "every acknowledged delivery survived the kill"
    );
    let (sessions, stored_deliveries): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM deliveries WHERE status = 'stored')",
    )
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!(
        sessions, stored_deliveries,
        "one session per storing delivery, none twice"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM followup_jobs")
        .fetch_one(&db)
        .await
        .expect("jobs");
    assert_eq!(jobs, sessions, "every committed session has its job");

    // Jobs that were running when the process died are taken over once their lease expires.
    let mut unfinished = i64::MAX;
    for _ in 0..300 {
        unfinished = sqlx::query_scalar("SELECT count(*) FROM followup_jobs WHERE status <> 'succeeded'")
            .fetch_one(&db)
            .await
            .expect("count");
        if unfinished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(unfinished, 0, "every follow-up completed after the restart");
    drop(child);
    db.close().await;
    drop_database(&database);
}

/// Kills the child when the test ends, whether it passes or panics.
/// A `moto_server` of the test's own (S3 and SQS protocols; `pip install 'moto[server]'`), once it answers: its
/// endpoint, and the process, stopped when dropped.
pub(crate) async fn moto_server() -> (String, KillOnDrop) {
    let port = free_port();
    let process = KillOnDrop(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("an S3- and SQS-protocol server for the tests: pip install 'moto[server]'"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(&endpoint).await.is_ok() {
            return (endpoint, process);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start on port {port}");
}

pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn database_url_for(database: &str) -> String {
    let server =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut url = reqwest::Url::parse(&server).expect("url");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

fn spawn_serve_with_config(database: &str, keys: &Path, config: &Path, env: &[(&str, String)]) -> (Child, u16) {
    let port = free_port();
    let mut command = command(database);
    command
        .arg("--config")
        .arg(config)
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
    (command.spawn().expect("serve starts"), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_token_secret_or_signature() {
    use crate::cloudflare_fake::{ACCOUNT, APP, FakeCloudflare, GOOD_TOKEN, PUBLIC_URL};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let fake = FakeCloudflare::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    let keys = tempdir("logs");
    assert!(
        run(Command::new(BINARY).args(["dev", "keygen", "--out"]).arg(&keys))
            .status
            .success()
    );
    let api_token = "api-token-SECRET-1f2e3d-0123456789abcdef";
    let webhook_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let slack_secret_path = "/services/T000/B000/SLACKSECRETXYZ";
    let db_password = "dbpass-SECRET-789";
    let config = keys.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[worker]\npoll_interval_secs = 1\n\n[[followups]]\nkind = \"webhook\"\nurl = \"{0}/hook\"\nsecret = \"{webhook_secret}\"\n\n\
             [[followups]]\nkind = \"slack\"\nurl = \"{0}{slack_secret_path}\"\n",
            receiver.uri()
        ),
    )
    .expect("config");
    let database = format!("rtk_bin_{}", uuid::Uuid::new_v4().simple());
    let mut db_url = reqwest::Url::parse(&database_url_for(&database)).expect("url");
    db_url.set_password(Some(db_password)).expect("password");
    let port = free_port();
    let child = command(&database)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .env("RTK_SESSIONS__LOG__FORMAT", "json")
        .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("RTK_SESSIONS__DATABASE__URL", db_url.as_str())
        .env("RTK_SESSIONS__API__TOKENS", api_token)
        .env(
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
            keys.join("rtk-dev-public.pem"),
        )
        .env("RTK_SESSIONS__REALTIMEKIT__API_BASE", fake.api_base())
        .env("RTK_SESSIONS__REALTIMEKIT__ACCOUNT_ID", ACCOUNT)
        .env("RTK_SESSIONS__REALTIMEKIT__APP_ID", APP)
        .env("CLOUDFLARE_API_TOKEN", GOOD_TOKEN)
        .env("RTK_SESSIONS__SERVER__PUBLIC_URL", PUBLIC_URL)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut child = KillOnDrop(child);
    let mut stderr = child.0.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    wait_ready(port).await;

    let signer = signer_from(&keys);
    let delivery = rtk_sessions::SignedDelivery::new(&signer, rtk_sessions::sample_body("meeting.ended"));
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        delivery
            .request(&http, &format!("{base}/webhooks/realtimekit"))
            .send()
            .await
            .expect("ok")
            .status()
            .is_success()
    );
    let forged = rtk_sessions::SignedDelivery::new(
        crate::helpers::other_signer(),
        rtk_sessions::sample_body("meeting.ended"),
    );
    let _ = forged
        .request(&http, &format!("{base}/webhooks/realtimekit"))
        .send()
        .await;
    let _ = http.get(format!("{base}/sessions")).bearer_auth(api_token).send().await;
    let _ = http
        .get(format!("{base}/sessions"))
        .bearer_auth("wrong-SECRET-token")
        .send()
        .await;
    let _ = http
        .post(format!("{base}/meetings/m/end"))
        .bearer_auth(api_token)
        .send()
        .await;
    for _ in 0..100 {
        let registered = fake.webhooks().len() == 1;
        let attempted = receiver.received_requests().await.is_some_and(|r| r.len() >= 2);
        if registered && attempted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let _ = child.0.wait();
    let logs = logs.join().expect("log reader");
    drop_database(&database);

    assert!(logs.contains("delivery accepted"), "the run was logged:\n{logs}");
    assert!(logs.contains("follow-up failed"), "the follow-ups ran:\n{logs}");
    for secret in [
        api_token,
        "wrong-SECRET-token",
        GOOD_TOKEN,
        db_password,
        webhook_secret,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "SLACKSECRETXYZ",
        delivery.signature.as_str(),
        &delivery.signature[..40],
        forged.signature.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs: {secret}");
    }
}

#[tokio::test]
async fn a_pinned_key_file_that_cannot_be_read_stops_serve_naming_the_setting_and_the_path() {
    let output = run(command("unused")
        .env("RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE", "/nonexistent/key.pem")
        .arg("serve"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("realtimekit.public_key_file") && stderr.contains("/nonexistent/key.pem"),
        "{stderr}"
    );
}
