//! The service under test: the release binary on a database of its own, and what it costs (RSS, CPU).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use rtk_sessions::WebhookSigner;
use sqlx::{Connection, Executor, PgConnection};

use crate::{Cli, TOKEN};

pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) database_url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Service {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub(crate) fn database_url(cli: &Cli, name: &str) -> String {
    format!("{}/{name}", cli.postgres.trim_end_matches('/'))
}

pub(crate) async fn recreate_database(cli: &Cli, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&database_url(cli, "postgres")).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await?;
    Ok(())
}

pub(crate) fn signer(cli: &Cli) -> anyhow::Result<WebhookSigner> {
    let private = cli.work_dir.join("rtk-dev-private.pem");
    if !private.exists() {
        rtk_sessions::keygen(&cli.work_dir, true)?;
    }
    WebhookSigner::from_pem(&std::fs::read_to_string(private)?)
}

/// Starts the release service on a fresh database (see [`launch_service`]).
pub(crate) async fn start_service(cli: &Cli, database: &str, env: &[String]) -> anyhow::Result<Service> {
    recreate_database(cli, database).await?;
    launch_service(cli, database, env).await
}

/// Starts the release service on `database` as it is (it migrates it at start-up); one follow-up is configured (its
/// jobs are queued, not run) so each delivery writes a job as the reference workload does.
pub(crate) async fn launch_service(cli: &Cli, database: &str, env: &[String]) -> anyhow::Result<Service> {
    launch_binary(
        cli,
        &std::env::current_exe()?.with_file_name("rtk-sessions"),
        database,
        env,
    )
    .await
}

/// Starts `binary`, a release build of the service (this one's, or another's to compare with), as
/// [`launch_service`] does.
pub(crate) async fn launch_binary(cli: &Cli, binary: &Path, database: &str, env: &[String]) -> anyhow::Result<Service> {
    let config = cli.work_dir.join("bench-config.toml");
    std::fs::write(
        &config,
        "[[followups]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/unused\"\n\
         secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let database_url = database_url(cli, database);
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("RTK_SESSIONS__DATABASE__URL", &database_url)
        .env(
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
            cli.work_dir.join("rtk-dev-public.pem"),
        )
        .env("RTK_SESSIONS__API__TOKENS", TOKEN)
        .env("RTK_SESSIONS__WORKER__ENABLED", "false")
        .env("RTK_SESSIONS__RECONCILE__ENABLED", "false")
        .env("RTK_SESSIONS__REGISTRATION__ENABLED", "false")
        .env("RTK_SESSIONS__LOG__LEVEL", "warn")
        // A seeded history spans a year: retention's 90 days would drop three quarters of it at the next start.
        .env("RTK_SESSIONS__RETENTION__DELIVERIES_DAYS", "0")
        .env("RTK_SESSIONS__ARCHIVE__URL", archive_url(cli)?)
        // The archive benchmark serves its recording from a local server.
        .env("RTK_SESSIONS__ARCHIVE__ALLOW_PRIVATE_SOURCES", "true")
        .stdout(Stdio::null());
    // The caller's settings win over the defaults above.
    for pair in env {
        let (key, value) = pair.split_once('=').context("--service-env takes KEY=VALUE")?;
        command.env(key, value);
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {} (run `cargo build --release` first)", binary.display()))?;
    let service = Service {
        child,
        url,
        database_url,
    };
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{}/readyz", service.url)).send().await
            && response.status().is_success()
        {
            return Ok(service);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the service did not become ready")
}

/// The benchmark's archive folder, emptied, as a `file://` URL.
pub(crate) fn archive_url(cli: &Cli) -> anyhow::Result<String> {
    let folder = std::path::absolute(cli.work_dir.join("archive"))?;
    let _ = std::fs::remove_dir_all(&folder);
    Ok(format!("file://{}", folder.display()))
}

/// (current RSS, peak RSS) of a process, in MiB.
pub(crate) fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds used so far by a process (user + system), from /proc; 0 where unreadable.
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by every Postgres process.
pub(crate) fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| cpu_seconds(&e.file_name().to_string_lossy()))
        .sum()
}

/// Where the CPU went during a measurement: service, Postgres and the load generator, in µs per delivery.
pub(crate) struct CpuSplit {
    pub(crate) service: f64,
    pub(crate) postgres: f64,
    pub(crate) load: f64,
}

impl CpuSplit {
    /// The service's and Postgres's.
    pub(crate) fn together(&self) -> f64 {
        self.service + self.postgres
    }

    /// The service's and Postgres's divided by the load generator's, whose work a request is the same in every
    /// build: what compares across the machine's changes of speed.
    pub(crate) fn relative(&self) -> f64 {
        self.together() / self.load
    }
}

pub(crate) struct CpuMark {
    pub(crate) service: f64,
    pub(crate) postgres: f64,
    pub(crate) load: f64,
}

impl CpuMark {
    pub(crate) fn now(service_pid: u32) -> Self {
        Self {
            service: cpu_seconds(&service_pid.to_string()),
            postgres: postgres_cpu_seconds(),
            load: cpu_seconds("self"),
        }
    }

    pub(crate) fn per_delivery(&self, service_pid: u32, deliveries: usize) -> CpuSplit {
        let now = Self::now(service_pid);
        let per = |a: f64, b: f64| (b - a) * 1e6 / deliveries.max(1) as f64;
        CpuSplit {
            service: per(self.service, now.service),
            postgres: per(self.postgres, now.postgres),
            load: per(self.load, now.load),
        }
    }
}
