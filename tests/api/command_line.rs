//! What a newcomer meets at the terminal: read-only commands that never create a database, the API's checks and
//! words, tables with a header, `config check`, completions, and errors that name their cause once.

use std::path::Path;
use std::process::{Command, Output};

use crate::binary::{BINARY, KillOnDrop, command, free_port, run, tempdir, wait_ready};
use crate::helpers::drop_database;

fn fresh_database() -> String {
    format!("rtk_cli_{}", uuid::Uuid::new_v4().simple())
}

fn text(output: &Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

async fn server() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(crate::helpers::server_url().as_str())
        .await
        .expect("the Postgres server")
}

async fn database_exists(database: &str) -> bool {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(database)
        .fetch_one(&mut server().await)
        .await
        .expect("a count");
    count == 1
}

#[tokio::test]
async fn read_only_commands_never_create_a_database_and_say_what_to_run() {
    let database = fresh_database();
    for args in [
        &["sessions", "list"][..],
        &["sessions", "show", "s-1"],
        &["followups", "list"],
        &["deliveries", "list"],
    ] {
        let (ok, _, stderr) = text(&run(command(&database).args(args)));
        assert!(!ok, "{args:?} must fail on a missing database");
        assert!(
            stderr.contains(&database) && stderr.contains("rtk-sessions migrate"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("created the database"), "{stderr}");
    }
    assert!(
        !database_exists(&database).await,
        "no command but serve and migrate creates the database"
    );

    // A database that exists but was never migrated is named too, and left as it is.
    sqlx::Executor::execute(&mut server().await, format!("CREATE DATABASE {database}").as_str())
        .await
        .expect("created");
    let (ok, _, stderr) = text(&run(command(&database).args(["followups", "list"])));
    drop_database(&database);
    assert!(!ok);
    assert!(
        stderr.contains("migrations") && stderr.contains("rtk-sessions migrate"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_command_line_checks_are_the_apis_and_name_the_flags_typed() {
    let database = fresh_database();
    let (ok, _, stderr) = text(&run(command(&database).arg("migrate")));
    assert!(ok, "{stderr}");
    let cli = |args: &[&str]| text(&run(command(&database).args(args)));

    let cases: [(&[&str], &str); 6] = [
        (
            &["followups", "list", "--status", "bogus"],
            "is not a follow-up job status (one of dead, failing, due",
        ),
        (
            &["followups", "list", "--status", "DEAD"],
            "is not a follow-up job status",
        ),
        (
            &["followups", "list", "--limit", "0"],
            "--limit must be a whole number from 1 to 500",
        ),
        (
            &["deliveries", "list", "--outcome", "fine"],
            "is not a delivery outcome (one of stored",
        ),
        (
            &["sessions", "list", "--ended-after", "yesterday"],
            "--ended-after must be an RFC 3339 timestamp",
        ),
        (
            &["sessions", "list", "--cursor", "nonsense"],
            "--cursor is not one this API returned",
        ),
    ];
    for (args, says) in cases {
        let (ok, stdout, stderr) = cli(args);
        assert!(!ok, "{args:?} must exit non-zero");
        assert!(stdout.is_empty(), "{args:?} printed {stdout}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    for (args, empty) in [
        (&["sessions", "list"][..], "no sessions"),
        (&["followups", "list"], "no follow-up jobs"),
        (&["deliveries", "list"], "no deliveries"),
    ] {
        let (ok, stdout, stderr) = cli(args);
        assert!(ok, "{stderr}");
        assert_eq!(stdout.trim(), empty);
        assert!(!stderr.contains("_sqlx_migrations"), "no library chatter: {stderr}");
    }
    let (ok, _, stderr) = cli(&["sessions", "show", "nobody"]);
    assert!(!ok);
    assert!(stderr.contains("no session with id \"nobody\""), "{stderr}");

    // Migrating again is quiet: the library's notices stay below the default level.
    let (ok, _, stderr) = cli(&["migrate"]);
    assert!(
        ok && !stderr.contains("_sqlx_migrations") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    drop_database(&database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_in_a_table_or_as_json_lines_and_shown_one_by_one() {
    let keys = tempdir("cli-keys");
    assert!(
        run(Command::new(BINARY).args(["dev", "keygen", "--out"]).arg(&keys))
            .status
            .success()
    );
    let database = fresh_database();
    let port = free_port();
    let child = command(&database)
        .arg("serve")
        .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env(
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
            keys.join("rtk-dev-public.pem"),
        )
        .env("RTK_SESSIONS__REGISTRATION__ENABLED", "false")
        .env("RTK_SESSIONS__RECONCILE__ENABLED", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let _serve = KillOnDrop(child);
    wait_ready(port).await;
    let send = tokio::task::block_in_place(|| {
        run(Command::new(BINARY)
            .args([
                "dev",
                "send",
                "--url",
                &format!("http://127.0.0.1:{port}"),
                "--private-key",
            ])
            .arg(keys.join("rtk-dev-private.pem")))
    });
    let (ok, sent, _) = text(&send);
    assert!(ok, "{sent}");
    let answer: serde_json::Value =
        serde_json::from_str(sent.lines().last().expect("the answer")).expect("the answer is JSON");
    let session_id = answer["session_id"].as_str().expect("a session id").to_owned();

    let cli = |args: &[&str]| tokio::task::block_in_place(|| text(&run(command(&database).args(args))));
    let (ok, stdout, stderr) = cli(&["sessions", "list"]);
    assert!(ok, "{stderr}");
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(
        header,
        ["ENDED", "SESSION", "TITLE", "MEETING", "DURATION", "REASON", "SOURCE"]
    );
    let row = lines.next().expect("a row");
    assert!(
        row.contains(&session_id) && row.contains("Weekly sync") && row.contains("30 min") && row.contains("delivery"),
        "the title, and the duration as people say it: {row}"
    );
    let (ok, stdout, _) = cli(&["sessions", "list", "--title", "WEEKLY"]);
    assert!(
        ok && stdout.contains(&session_id),
        "found by a word of its title: {stdout}"
    );
    let (ok, stdout, _) = cli(&["sessions", "list", "--title", "weekly retro"]);
    assert!(
        ok && stdout.trim() == "no sessions",
        "every word must be found: {stdout}"
    );
    // A flag's value the API refuses is named by the flag typed, not by the API's parameter.
    let (ok, _, stderr) = cli(&["sessions", "list", "--has-recording", "maybe"]);
    assert!(
        !ok && stderr.contains("--has-recording must be true or false"),
        "{stderr}"
    );

    let (ok, stdout, _) = cli(&["sessions", "list", "--json"]);
    assert!(ok);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["session_id"], session_id.as_str());

    let (ok, stdout, _) = cli(&["sessions", "show", &session_id]);
    assert!(ok);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("session_id") && l.ends_with(&session_id)),
        "{stdout}"
    );
    let (ok, stdout, _) = cli(&["sessions", "show", &session_id, "--json"]);
    assert!(ok);
    let shown: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(shown["session_id"], session_id.as_str());

    let (ok, stdout, _) = cli(&["deliveries", "list"]);
    assert!(
        ok && stdout.starts_with("RECEIVED") && stdout.contains("stored"),
        "{stdout}"
    );

    // A session that started and has not ended is shown too, as live.
    let started = tokio::task::block_in_place(|| {
        run(Command::new(BINARY)
            .args([
                "dev",
                "send",
                "--event",
                "meeting.started",
                "--url",
                &format!("http://127.0.0.1:{port}"),
            ])
            .arg("--private-key")
            .arg(keys.join("rtk-dev-private.pem")))
    });
    let (_, sent, _) = text(&started);
    let answer: serde_json::Value = serde_json::from_str(sent.lines().last().expect("the answer")).expect("JSON");
    let live_id = answer["session_id"].as_str().expect("a session id").to_owned();
    let (ok, stdout, stderr) = cli(&["sessions", "show", &live_id]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("status") && l.ends_with("live")),
        "{stdout}"
    );
    let (ok, stdout, _) = cli(&["sessions", "list", "--live"]);
    assert!(
        ok && stdout.starts_with("STARTED") && stdout.contains(&live_id),
        "{stdout}"
    );
    drop(_serve);
    drop_database(&database);
}

#[tokio::test]
async fn config_check_prints_every_value_with_its_source_and_redacts_secrets() {
    let dir = tempdir("config-check");
    let file = dir.join("rtk.toml");
    assert!(
        run(Command::new(BINARY)
            .args(["dev", "keygen", "--out"])
            .arg(dir.join("keys")))
        .status
        .success()
    );
    std::fs::write(
        &file,
        "[server]\nbind = \"127.0.0.1:9999\"\n\n[realtimekit]\npublic_key_file = \"keys/rtk-dev-public.pem\"\n",
    )
    .expect("write");
    let output = run(command("unused")
        .env(
            "RTK_SESSIONS__DATABASE__URL",
            "postgres://app:hunter2@db.internal:5432/rtk",
        )
        .env(
            "RTK_SESSIONS__API__TOKENS",
            "token-one-0123456789abcdef0123456789,token-two-0123456789abcdef0123456789",
        )
        .arg("--config")
        .arg(&file)
        .args(["config", "check"]));
    let (ok, stdout, stderr) = text(&output);
    assert!(ok, "{stderr}");
    let row = |key: &str| {
        stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no row for {key}: {stdout}"))
            .to_owned()
    };
    assert!(row("server.bind").contains("127.0.0.1:9999") && row("server.bind").contains("rtk.toml"));
    assert!(
        row("worker.concurrency").ends_with("default"),
        "{}",
        row("worker.concurrency")
    );
    assert!(row("api.tokens").contains("RTK_SESSIONS__API__TOKENS"));
    assert!(row("database.url").contains("db.internal") && row("database.url").contains("RTK_SESSIONS__DATABASE__URL"));
    let resolved = dir.join("keys/rtk-dev-public.pem");
    assert!(
        row("realtimekit.public_key_file").contains(&resolved.display().to_string()),
        "a relative path in the file is resolved from the file's folder: {}",
        row("realtimekit.public_key_file")
    );
    for secret in ["hunter2", "token-one", "token-two"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} was printed"
        );
    }
    assert!(stdout.contains("the configuration is valid"));

    // Wrong values: the key, what is wrong, and the variable or file; exit 1.
    let cases: [(&str, &str, &str); 5] = [
        ("RTK_SESSIONS__LOG__LEVEL", "nonsense level", "log.level"),
        (
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_PEM",
            "not a pem",
            "realtimekit.public_key_pem",
        ),
        (
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
            "/nowhere/key.pem",
            "/nowhere/key.pem",
        ),
        ("RTK_SESSIONS__LOG__LEVEL", "[[[", "log.level"),
        (
            "RTK_SESSIONS__WORKER__CONCURRENCY",
            "0",
            "RTK_SESSIONS__WORKER__CONCURRENCY",
        ),
    ];
    for (variable, value, says) in cases {
        let (ok, _, stderr) = text(&run(command("unused").env(variable, value).args(["config", "check"])));
        assert!(!ok, "{variable}={value} must be refused");
        assert!(stderr.contains(says), "{variable}={value}: {stderr}");
        assert!(
            !stderr.contains("src/"),
            "errors never name a source file of ours: {stderr}"
        );
    }
    std::fs::write(&file, "[server]\nbnd = \"127.0.0.1:1\"\n").expect("write");
    let (ok, _, stderr) = text(&run(command("unused")
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])));
    assert!(!ok);
    assert!(
        stderr.contains("server.bnd: no such key") && stderr.contains("rtk.toml") && !stderr.contains("``"),
        "{stderr}"
    );
}

#[tokio::test]
async fn completions_are_printed_and_keygen_keeps_existing_keys_unless_forced() {
    let (ok, stdout, _) = text(&run(Command::new(BINARY).args(["completions", "bash"])));
    assert!(
        ok && stdout.contains("rtk-sessions") && stdout.contains("sessions"),
        "{stdout}"
    );

    let keys = tempdir("keygen");
    let keygen = |force: bool| {
        let mut command = Command::new(BINARY);
        command.args(["dev", "keygen", "--out"]).arg(&keys);
        if force {
            command.arg("--force");
        }
        text(&run(&mut command))
    };
    let public = |dir: &Path| std::fs::read_to_string(dir.join("rtk-dev-public.pem")).expect("a public key");
    assert!(keygen(false).0);
    let first = public(&keys);
    // Run again: the pair is kept, and the line to pin it is printed again.
    let (ok, stdout, stderr) = keygen(false);
    assert!(
        ok && stdout.contains("already there") && stdout.contains("RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE="),
        "{stdout}{stderr}"
    );
    assert_eq!(public(&keys), first, "the existing key is kept");
    // Half a pair is not one: it is kept, and the command says what to do.
    std::fs::remove_file(keys.join("rtk-dev-public.pem")).expect("removed");
    let (ok, _, stderr) = keygen(false);
    assert!(
        !ok && stderr.contains("without its other half") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(keygen(true).0);
    assert_ne!(public(&keys), first, "--force writes a new pair");
}

#[tokio::test]
async fn errors_name_their_cause_once() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let (ok, _, stderr) = text(&run(Command::new(BINARY).args(["healthcheck", &url])));
    assert!(!ok);
    assert!(stderr.to_lowercase().contains("connection refused"), "{stderr}");
    assert_eq!(stderr.matches(&url).count(), 1, "the URL once: {stderr}");

    let (ok, _, stderr) = text(&run(command("unused")
        .env(
            "RTK_SESSIONS__DATABASE__URL",
            format!("postgres://postgres@127.0.0.1:{port}/rtk"),
        )
        .arg("migrate")));
    assert!(!ok);
    assert_eq!(
        stderr.matches("Connection refused").count(),
        1,
        "the cause once: {stderr}"
    );
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");

    // The Cloudflare API unreachable: the call and its cause, once, in the line that ends the command.
    let (ok, _, stderr) = text(&run(command("unused")
        .env(
            "RTK_SESSIONS__REALTIMEKIT__API_BASE",
            format!("http://127.0.0.1:{port}"),
        )
        .env("RTK_SESSIONS__REALTIMEKIT__ACCOUNT_ID", "acc")
        .env("RTK_SESSIONS__REALTIMEKIT__APP_ID", "app")
        .env("CLOUDFLARE_API_TOKEN", "token")
        .args(["webhooks", "list"])));
    assert!(!ok);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("rtk-sessions: GET webhooks"), "{stderr}");
    assert_eq!(last.matches("Connection refused").count(), 1, "{last}");
}

#[tokio::test]
async fn a_config_toml_in_a_parent_folder_is_never_read() {
    let parent = tempdir("parent-config");
    std::fs::write(parent.join("config.toml"), "[server]\nbind = \"127.0.0.1:9999\"\n").expect("write");
    let child = parent.join("child");
    std::fs::create_dir_all(&child).expect("a folder");
    let output = run(command("unused").current_dir(&child).args(["config", "check"]));
    let (ok, stdout, stderr) = text(&output);
    assert!(ok, "{stderr}");
    let bind = stdout
        .lines()
        .find(|line| line.starts_with("server.bind"))
        .expect("a row");
    assert!(bind.contains("0.0.0.0:8080") && bind.ends_with("default"), "{bind}");
    assert!(stdout.contains("no config.toml in the working directory"), "{stdout}");

    // In the folder itself, it is read, and said so.
    let output = run(command("unused").current_dir(&parent).args(["config", "check"]));
    let (ok, stdout, stderr) = text(&output);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("127.0.0.1:9999") && stdout.contains("configuration file config.toml in"),
        "{stdout}"
    );
}

#[test]
fn completions_end_quietly_when_the_reader_stops_early() {
    use std::io::BufRead;
    let mut child = Command::new(BINARY)
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut first).expect("a first line");
    drop(stdout); // `| head -1`: the pipe closes
    let output = child.wait_with_output().expect("ends");
    assert!(!first.is_empty());
    assert_ne!(
        output.status.code(),
        Some(101),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}
