//! The real binary: `dev keygen`, `serve`, `dev send`, `healthcheck`, `migrate`, configuration errors, and a clean
//! exit on SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::drop_database;

const BINARY: &str = env!("CARGO_BIN_EXE_rtk-sessions");

fn command(database: &str) -> Command {
    let mut command = Command::new(BINARY);
    let server =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut url = reqwest::Url::parse(&server).expect("url");
    url.set_path(&format!("/{database}"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RTK_SESSIONS__DATABASE__URL", url.as_str())
        .env("RTK_SESSIONS__API__TOKENS", "binary-token")
        .env("RUST_LOG", "info")
        .current_dir(std::env::temp_dir());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn free_port() -> u16 {
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
    assert!(String::from_utf8_lossy(&other_event.stdout).contains("\"outcome\":\"ignored\""));

    let sessions = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/sessions", served.port))
        .bearer_auth("binary-token")
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

fn tempdir(name: &str) -> std::path::PathBuf {
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
