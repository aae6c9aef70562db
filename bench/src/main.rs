//! rtk-bench: the benchmarks of docs/PERFORMANCE.md, as one program.
//!
//! `ingest`: for each concurrency, in one run: the reference ceiling (pgbench on bench/reference), the service over
//! HTTP with real RSA signatures (pre-signed before the clock starts), and the service's own SQL driven directly;
//! ratios, latency percentiles (HDR histogram), non-2xx counts, peak RSS, and a check that every acknowledged
//! delivery is in the database.
//! `queries`: seeds 1,000,000 sessions with generate_series, then times `GET /sessions` pages and filters and
//! prints the plan of each.
//! `archive`: archives one recording of `--size-mib` (1 GiB by default) streamed by a local server, and prints the
//! time and the service's peak RSS: memory stays flat whatever the size.
//! `soak`: a steady moderate rate for a long time, printing RSS and latency every interval.
//!
//! Each starts the release `rtk-sessions` binary beside it on a database of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rtk_sessions::{Cursor, ListFilter, explain_session_list};
use rtk_sessions::{DeliveryBody, DeliveryId, classify};
use rtk_sessions::{FollowupKind, JobSpec, JobSpecs, Trigger};
use rtk_sessions::{PublicKey, WebhookSigner, decode_signature_header};
use rtk_sessions::{VerifiedDelivery, record_deliveries, record_delivery};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};

#[derive(Parser)]
#[command(
    name = "rtk-bench",
    about = "Benchmarks of rtk-sessions against this machine's own ceilings"
)]
struct Cli {
    /// The Postgres server (the benchmark creates its own databases there)
    #[arg(long, global = true, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Where the benchmark keeps its keys and configuration
    #[arg(long, global = true, default_value = "target/bench")]
    work_dir: PathBuf,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Ingest throughput and latency against the reference ceiling
    Ingest {
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        concurrency: Vec<usize>,
        /// Seconds per measurement
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Pre-signed deliveries (reused at each concurrency: the tables are emptied in between)
        #[arg(long, default_value_t = 150_000)]
        deliveries: usize,
        /// The reference workload (reference-schema.sql, reference-ceiling.sql)
        #[arg(long, default_value = "bench/reference")]
        reference_dir: PathBuf,
        /// ingest.batch_max of the service: 1 is one transaction per delivery
        #[arg(long, default_value_t = 64)]
        batch_max: usize,
        /// Any other service setting, as RTK_SESSIONS__… variables (KEY=VALUE, repeatable)
        #[arg(long = "service-env", value_name = "KEY=VALUE")]
        service_env: Vec<String>,
        /// `ended`: `meeting.ended` alone; `realistic`: 80% participant events (sessions of 500 peers joining and
        /// leaving), 10% `meeting.ended`, 10% the other events
        #[arg(long, value_enum, default_value_t = Mix::Ended)]
        mix: Mix,
    },
    /// /sessions latency at a million rows, with each query's plan
    Queries {
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
        #[arg(long, default_value_t = 300)]
        iterations: usize,
    },
    /// Archive one recording of this size, served by a local streaming server: time, throughput, peak RSS
    Archive {
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
    },
    /// A steady rate for a long time: RSS and latency over time
    Soak {
        /// Deliveries per second
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds
        #[arg(long, default_value_t = 600)]
        duration: u64,
        /// Seconds between reports
        #[arg(long, default_value_t = 30)]
        interval: u64,
    },
}

const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.work_dir)?;
    match &cli.command {
        BenchCommand::Ingest {
            concurrency,
            duration,
            deliveries,
            reference_dir,
            batch_max,
            service_env,
            mix,
        } => {
            let mut env = service_env.clone();
            env.push(format!("RTK_SESSIONS__INGEST__BATCH_MAX={batch_max}"));
            ingest(
                &cli,
                concurrency,
                Duration::from_secs(*duration),
                *deliveries,
                reference_dir,
                &env,
                *mix,
            )
            .await
        }
        BenchCommand::Queries { rows, iterations } => queries(&cli, *rows, *iterations).await,
        BenchCommand::Archive { size_mib } => archive(&cli, *size_mib).await,
        BenchCommand::Soak {
            rate,
            duration,
            interval,
        } => {
            soak(
                &cli,
                *rate,
                Duration::from_secs(*duration),
                Duration::from_secs(*interval),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The service under test

struct Service {
    child: Child,
    url: String,
    database_url: String,
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
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn database_url(cli: &Cli, name: &str) -> String {
    format!("{}/{name}", cli.postgres.trim_end_matches('/'))
}

async fn recreate_database(cli: &Cli, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&database_url(cli, "postgres")).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await?;
    Ok(())
}

fn signer(cli: &Cli) -> anyhow::Result<WebhookSigner> {
    let private = cli.work_dir.join("rtk-dev-private.pem");
    if !private.exists() {
        rtk_sessions::keygen(&cli.work_dir, true)?;
    }
    WebhookSigner::from_pem(&std::fs::read_to_string(private)?)
}

/// Starts the release service on a fresh database; one follow-up is configured (its jobs are queued, not run) so
/// each delivery writes a job as the reference workload does.
async fn start_service(cli: &Cli, database: &str, env: &[String]) -> anyhow::Result<Service> {
    recreate_database(cli, database).await?;
    let binary = std::env::current_exe()?.with_file_name("rtk-sessions");
    let config = cli.work_dir.join("bench-config.toml");
    std::fs::write(
        &config,
        "[[followups]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/unused\"\n\
         secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let database_url = database_url(cli, database);
    let mut command = Command::new(&binary);
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
fn archive_url(cli: &Cli) -> anyhow::Result<String> {
    let folder = std::path::absolute(cli.work_dir.join("archive"))?;
    let _ = std::fs::remove_dir_all(&folder);
    Ok(format!("file://{}", folder.display()))
}

/// (current RSS, peak RSS) of a process, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
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
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by every Postgres process.
fn postgres_cpu_seconds() -> f64 {
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
struct CpuSplit {
    service: f64,
    postgres: f64,
    load: f64,
}

struct CpuMark {
    service: f64,
    postgres: f64,
    load: f64,
}

impl CpuMark {
    fn now(service_pid: u32) -> Self {
        Self {
            service: cpu_seconds(&service_pid.to_string()),
            postgres: postgres_cpu_seconds(),
            load: cpu_seconds("self"),
        }
    }

    fn per_delivery(&self, service_pid: u32, deliveries: usize) -> CpuSplit {
        let now = Self::now(service_pid);
        let per = |a: f64, b: f64| (b - a) * 1e6 / deliveries.max(1) as f64;
        CpuSplit {
            service: per(self.service, now.service),
            postgres: per(self.postgres, now.postgres),
            load: per(self.load, now.load),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Deliveries

/// A `meeting.ended` of about 1 KB with fresh ids, like the reference payload.
fn body(i: usize) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&rtk_sessions::sample_body("meeting.ended")).expect("json");
    value["meeting"]["title"] = json!(format!("Weekly engineering sync - platform and infrastructure #{i}"));
    value["client"] = json!({"sdk": "web-core", "sdkVersion": "2.4.1", "os": "macOS 15.1", "browser": "Chrome 131.0"});
    value["meta"] = json!({"note": "x".repeat(560)});
    serde_json::to_vec(&value).expect("json")
}

/// Which deliveries the ingest benchmark sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mix {
    Ended,
    Realistic,
}

/// Delivery `i` of a mix. In the realistic one, of every ten: eight participant events (each session 500 peers,
/// each joining then leaving), one `meeting.ended`, and one of the other events in turn.
fn mixed_body(i: usize, mix: Mix) -> Vec<u8> {
    const OTHERS: [&str; 6] = [
        "recording.statusUpdate",
        "meeting.transcript",
        "meeting.summary",
        "meeting.chatSynced",
        "livestreaming.statusUpdate",
        "meeting.started",
    ];
    let slot = i % 10;
    if mix == Mix::Ended || slot == 0 {
        return body(i);
    }
    if slot == 1 {
        let event = OTHERS[(i / 10) % OTHERS.len()];
        let mut value: Value = serde_json::from_slice(&rtk_sessions::sample_body(event)).expect("json");
        let url = format!("https://files.example.com/{i}?X-Amz-Expires=604800");
        match event {
            "recording.statusUpdate" => {
                value["recording"] = json!({"id": format!("rec-{i}"), "status": "RECORDING", "downloadUrl": null})
            }
            "meeting.transcript" => value["transcriptDownloadUrl"] = json!(url),
            "meeting.summary" => value["summaryDownloadUrl"] = json!(url),
            "meeting.chatSynced" => value["chatDownloadUrl"] = json!(url),
            "livestreaming.statusUpdate" => {
                value["streamId"] = json!(format!("stream-{i}"));
                value["status"] = json!("LIVE");
            }
            _ => {}
        }
        return serde_json::to_vec(&value).expect("json");
    }
    // Participant events: the k-th of the run, of session k / 1000, peer (k / 2) % 500, a join then its leave.
    let k = i / 10 * 8 + (slot - 2);
    let (event, leaving) = if k.is_multiple_of(2) {
        ("meeting.participantJoined", false)
    } else {
        ("meeting.participantLeft", true)
    };
    let mut value: Value = serde_json::from_slice(&rtk_sessions::sample_body(event)).expect("json");
    value["meeting"]["sessionId"] = json!(format!("bench-attended-{}", k / 1000));
    let mut participant = json!({
        "peerId": format!("peer-{}-{}", k / 1000, (k / 2) % 500),
        "userDisplayName": format!("Participant {}", (k / 2) % 500),
        "customParticipantId": format!("user-{}", (k / 2) % 500),
        "joinedAt": "2026-06-03T10:00:00.000Z"
    });
    if leaving {
        participant["leftAt"] = json!("2026-06-03T10:30:00.000Z");
    }
    value["participant"] = participant;
    serde_json::to_vec(&value).expect("json")
}

/// Attendance rows, how many have a join time and how many a leave time: what the acknowledged participant events
/// of the realistic mix must leave (see [`mixed_body`]; a leave carries its join time too).
fn expected_attendance(acked: &[usize]) -> (i64, i64, i64) {
    let mut left: std::collections::HashMap<(usize, usize), bool> = std::collections::HashMap::new();
    for &i in acked.iter().filter(|&&i| i % 10 >= 2) {
        let k = i / 10 * 8 + (i % 10 - 2);
        *left.entry((k / 1000, (k / 2) % 500)).or_default() |= !k.is_multiple_of(2);
    }
    let peers = left.len() as i64;
    (peers, peers, left.values().filter(|l| **l).count() as i64)
}

async fn recorded_attendance(db: &PgPool) -> anyhow::Result<(i64, i64, i64)> {
    Ok(
        sqlx::query_as("SELECT count(*), count(joined_at), count(left_at) FROM attendance")
            .fetch_one(db)
            .await?,
    )
}

struct Signed {
    body: Bytes,
    signature: String,
    delivery_id: String,
}

fn presign(signer: &WebhookSigner, count: usize, mix: Mix) -> Vec<Signed> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(count))
                        .map(|i| {
                            let body = mixed_body(i, mix);
                            Signed {
                                signature: signer.sign(&body),
                                body: Bytes::from(body),
                                delivery_id: uuid::Uuid::new_v4().to_string(),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

struct LoadResult {
    acked: Vec<usize>,
    non_2xx: usize,
    errors: usize,
    elapsed: Duration,
    latency: Histogram<u64>,
    peak_rss_mib: f64,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.acked.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Drives `POST /webhooks/realtimekit` with `concurrency` connections for `duration` (or until the deliveries run
/// out).
async fn drive(
    url: &str,
    deliveries: &Arc<Vec<Signed>>,
    concurrency: usize,
    duration: Duration,
    pid: u32,
) -> LoadResult {
    let authority = url.trim_start_matches("http://").to_owned();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let sampler = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        while Instant::now() < deadline {
            peak = peak.max(rss_mib(pid).0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (authority, next, deliveries) = (authority.clone(), next.clone(), deliveries.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let (mut acked, mut non_2xx, mut errors) = (Vec::new(), 0, 0);
                let mut connection = None;
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(delivery) = deliveries.get(i) else { break };
                    let sent = Instant::now();
                    match post_delivery(&mut connection, &authority, delivery).await {
                        Ok(status) if status.is_success() => {
                            latency.saturating_record(sent.elapsed().as_micros() as u64);
                            acked.push(i);
                        }
                        Ok(_) => non_2xx += 1,
                        Err(_) => {
                            errors += 1;
                            connection = None;
                        }
                    }
                }
                (acked, non_2xx, errors, latency)
            })
        })
        .collect();
    let mut result = LoadResult {
        acked: Vec::new(),
        non_2xx: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
        peak_rss_mib: 0.0,
    };
    for task in tasks {
        let (acked, non_2xx, errors, latency) = task.await.expect("load task");
        result.acked.extend(acked);
        result.non_2xx += non_2xx;
        result.errors += errors;
        result.latency.add(latency).expect("same bounds");
    }
    result.elapsed = started.elapsed();
    result.peak_rss_mib = sampler.await.unwrap_or(0.0);
    result
}

type ServiceConnection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Posts one delivery over this task's own keep-alive connection, opening it first when there is none. The load
/// generator shares the two cores with what it measures, so it does the least it can per request: hyper's
/// connection-level client, with no pool and no URL to parse.
async fn post_delivery(
    connection: &mut Option<ServiceConnection>,
    authority: &str,
    delivery: &Signed,
) -> anyhow::Result<hyper::StatusCode> {
    let sender = match connection {
        Some(sender) => sender,
        None => {
            let stream = tokio::net::TcpStream::connect(authority).await?;
            stream.set_nodelay(true)?;
            let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(driver);
            connection.insert(sender)
        }
    };
    let request = hyper::Request::post(rtk_sessions::WEBHOOK_PATH)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("rtk-signature", delivery.signature.as_str())
        .header("rtk-uuid", delivery.delivery_id.as_str())
        .header("rtk-webhook-id", "bench")
        .body(Full::new(delivery.body.clone()))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

// ---------------------------------------------------------------------------------------------------------------
// ingest

async fn pgbench(cli: &Cli, database: &str, script: &Path, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    let url = reqwest::Url::parse(&cli.postgres)?;
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-h", url.host_str().unwrap_or("127.0.0.1")])
        .args(["-p", &url.port().unwrap_or(5432).to_string(), "-U", url.username()])
        .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string()])
        .args(["-T", &duration.as_secs().to_string(), "-f"])
        .arg(script)
        .arg(database)
        .output()
        .context("running pgbench (Debian package postgresql-contrib or postgresql-client)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|tps| tps.parse().ok())
        .with_context(|| {
            format!(
                "pgbench printed no tps: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// The service's own SQL, driven directly at `concurrency` (no HTTP, no signature): per delivery, or in batches.
async fn direct_sql(pool: &PgPool, concurrency: usize, duration: Duration, batch: usize) -> anyhow::Result<f64> {
    let webhook = JobSpec {
        name: "webhook".into(),
        kind: FollowupKind::Webhook,
        trigger: Trigger::SessionEnded,
        apps: None,
        min_duration_secs: 0,
    };
    let jobs = Arc::new(JobSpecs::new(vec![webhook], 12));
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (pool, jobs, done) = (pool.clone(), jobs.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let deliveries: Vec<VerifiedDelivery> = (0..batch)
                        .map(|i| {
                            let bytes = Bytes::from(body(i));
                            let json: Value = serde_json::from_slice(&bytes).expect("json");
                            VerifiedDelivery {
                                delivery_id: DeliveryId::from_header_or_body(
                                    Some(&uuid::Uuid::new_v4().to_string()),
                                    &bytes,
                                ),
                                webhook_id: None,
                                app_id: None,
                                classified: classify(Some(&json)),
                                body: DeliveryBody::new(bytes),
                            }
                        })
                        .collect();
                    let result = if batch == 1 {
                        record_delivery(&pool, &deliveries[0], &jobs, 1000).await.map(drop)
                    } else {
                        record_deliveries(&pool, &deliveries, &jobs).await.map(drop)
                    };
                    if result.is_ok() {
                        done.fetch_add(batch, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// The service's tables a measurement writes, emptied between measurements.
const TABLES: &str = "deliveries, sessions, followup_jobs, followup_attempts, attendance, artifacts, \
     livestream_updates, unattributed_recordings, live_sessions";

async fn truncate(pool: &PgPool, tables: &str) -> anyhow::Result<()> {
    sqlx::query(&format!("TRUNCATE {tables}")).execute(pool).await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

async fn ingest(
    cli: &Cli,
    levels: &[usize],
    duration: Duration,
    count: usize,
    reference_dir: &Path,
    service_env: &[String],
    mix: Mix,
) -> anyhow::Result<()> {
    let schema = reference_dir.join("reference-schema.sql");
    let ceiling = reference_dir.join("reference-ceiling.sql");
    if !ceiling.is_file() {
        bail!(
            "no reference workload at {} (pass --reference-dir)",
            reference_dir.display()
        );
    }
    recreate_database(cli, "rtk_bench_reference").await?;
    let reference = PgPool::connect(&database_url(cli, "rtk_bench_reference")).await?;
    sqlx::raw_sql(&std::fs::read_to_string(&schema)?)
        .execute(&reference)
        .await?;

    let signer = signer(cli)?;
    println!(
        "pre-signing {count} deliveries of the {mix:?} mix (meeting.ended ~{} bytes)...",
        body(0).len()
    );
    let signing = Instant::now();
    let signed = Arc::new(presign(&signer, count, mix));
    println!("signed in {:.1}s", signing.elapsed().as_secs_f64());
    let verify_us = verify_cost(&signer);

    let service = start_service(cli, "rtk_bench", service_env).await?;
    let db = PgPool::connect(&service.database_url).await?;
    let idle = rss_mib(service.pid()).0;
    println!(
        "service: pid {}, {}, idle RSS {idle:.1} MiB; {}s per measurement\n",
        service.pid(),
        service_env.join(" "),
        duration.as_secs()
    );
    println!(
        "{:>5} | {:>9} {:>9} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>6} | {:>9} {:>9} | {:>8} | verified",
        "conns",
        "ceiling/s",
        "service/s",
        "ratio",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "non2xx",
        "sql 1/s",
        "sql B/s",
        "peak MiB"
    );
    let mut max_rate: f64 = 0.0;
    let mut cpu_lines = Vec::new();
    for &c in levels {
        truncate(&reference, "jobs, webhook_events").await?;
        let ceiling_tps = pgbench(cli, "rtk_bench_reference", &ceiling, c, duration).await?;

        truncate(&db, TABLES).await?;
        let cpu = CpuMark::now(service.pid());
        let load = drive(&service.url, &signed, c, duration, service.pid()).await;
        let split = cpu.per_delivery(service.pid(), load.acked.len());
        let acked_ids: Vec<&str> = load.acked.iter().map(|&i| signed[i].delivery_id.as_str()).collect();
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE delivery_id = ANY($1)")
            .bind(&acked_ids)
            .fetch_one(&db)
            .await?;
        let mut verified = stored as usize == acked_ids.len();
        if mix == Mix::Realistic {
            let (expected, recorded) = (expected_attendance(&load.acked), recorded_attendance(&db).await?);
            if expected != recorded {
                println!("attendance is not exact: expected {expected:?}, recorded {recorded:?}");
                verified = false;
            }
        }

        truncate(&db, TABLES).await?;
        let sql_single = direct_sql(&db, c.min(16), duration, 1).await?;
        truncate(&db, TABLES).await?;
        let sql_batched = direct_sql(&db, c.min(2), duration, 32.min(c.max(1))).await?;

        let h = &load.latency;
        max_rate = max_rate.max(load.rate());
        println!(
            "{:>5} | {:>9.0} {:>9.0} {:>5.2}x | {:>8.2} {:>8.2} {:>8.2} {:>8.2} | {:>6} | {:>9.0} {:>9.0} | {:>8.1} | {}",
            c,
            ceiling_tps,
            load.rate(),
            load.rate() / ceiling_tps,
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.90)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            load.non_2xx + load.errors,
            sql_single,
            sql_batched,
            load.peak_rss_mib,
            if verified {
                let exact = if mix == Mix::Realistic {
                    ", attendance exact"
                } else {
                    ""
                };
                format!("all {} acked deliveries stored{exact}", acked_ids.len())
            } else {
                format!("LOST: {} acked, {stored} stored", acked_ids.len())
            }
        );
        cpu_lines.push(format!(
            "{c:>5} | service {:>6.1} us | postgres {:>6.1} us | load generator {:>6.1} us",
            split.service, split.postgres, split.load
        ));
        if !verified {
            bail!("a benchmark that loses data has no result");
        }
    }
    println!("\nCPU per acknowledged delivery over HTTP (2 cores = 2,000,000 us per second):");
    for line in cpu_lines {
        println!("{line}");
    }
    let (_, hwm) = rss_mib(service.pid());
    println!("\npeak RSS of the service over the whole run (VmHWM): {hwm:.1} MiB; idle before the load: {idle:.1} MiB");
    println!(
        "RSA-2048 verification: {verify_us:.1} us each; at the highest rate measured ({max_rate:.0}/s) that is {:.1}% of \
         this machine's {} cores",
        max_rate * verify_us / 1e6 / std::thread::available_parallelism().map_or(2.0, |n| n.get() as f64) * 100.0,
        std::thread::available_parallelism().map_or(2, |n| n.get())
    );

    // Half the highest rate, paced, for the p99 target.
    if let Some(&top) = levels.iter().max() {
        truncate(&db, TABLES).await?;
        let paced = paced(&service.url, &signed, (max_rate / 2.0) as u64, top, duration).await;
        println!(
            "at half the highest rate ({:.0}/s offered, {:.0}/s acked): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, non-2xx {}",
            max_rate / 2.0,
            paced.rate(),
            ms(paced.latency.value_at_quantile(0.5)),
            ms(paced.latency.value_at_quantile(0.99)),
            ms(paced.latency.max()),
            paced.non_2xx + paced.errors
        );
    }
    Ok(())
}

fn verify_cost(signer: &WebhookSigner) -> f64 {
    let key = PublicKey::from_pem(&signer.public_key_pem().expect("pem")).expect("key");
    let body = body(0);
    let signature = decode_signature_header(signer.sign(&body).as_bytes()).expect("base64");
    let started = Instant::now();
    for _ in 0..5000 {
        assert!(key.verifies(&body, &signature));
    }
    started.elapsed().as_secs_f64() * 1e6 / 5000.0
}

/// Offers `rate` deliveries per second (open loop: a request is sent on schedule whatever the answers).
async fn paced(
    url: &str,
    deliveries: &Arc<Vec<Signed>>,
    rate: u64,
    max_in_flight: usize,
    duration: Duration,
) -> LoadResult {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(max_in_flight)
        .build()
        .expect("client");
    let url = format!("{url}/webhooks/realtimekit");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut i = 0;
    while started.elapsed() < duration && i < deliveries.len() {
        ticker.tick().await;
        let (http, url, deliveries) = (http.clone(), url.clone(), deliveries.clone());
        let index = i;
        tasks.spawn(async move {
            let delivery = &deliveries[index];
            let sent = Instant::now();
            let response = http
                .post(&url)
                .header("content-type", "application/json")
                .header("rtk-signature", &delivery.signature)
                .header("rtk-uuid", &delivery.delivery_id)
                .body(delivery.body.clone())
                .send()
                .await;
            let ok = matches!(&response, Ok(r) if r.status().is_success());
            (index, ok, response.is_err(), sent.elapsed())
        });
        i += 1;
    }
    let mut result = LoadResult {
        acked: Vec::new(),
        non_2xx: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
        peak_rss_mib: 0.0,
    };
    while let Some(done) = tasks.join_next().await {
        let (index, ok, error, latency) = done.expect("request task");
        if ok {
            result.acked.push(index);
            result.latency.saturating_record(latency.as_micros() as u64);
        } else if error {
            result.errors += 1;
        } else {
            result.non_2xx += 1;
        }
    }
    result.elapsed = started.elapsed();
    result
}

// ---------------------------------------------------------------------------------------------------------------
// queries

async fn queries(cli: &Cli, rows: i64, iterations: usize) -> anyhow::Result<()> {
    signer(cli)?;
    let service = start_service(cli, "rtk_bench_queries", &[]).await?;
    let db = PgPool::connect(&service.database_url).await?;
    println!("seeding {rows} sessions...");
    let seeding = Instant::now();
    // The artifact flags are seeded directly (1 session in 10 has a recording, 1 in 100 a transcript, 1 in 1,000 a
    // summary), so the trigger that sets them from announced artifacts is off while seeding.
    let mut seed = db.begin().await?;
    seed.execute("ALTER TABLE sessions DISABLE TRIGGER sessions_artifact_flags")
        .await?;
    sqlx::query(
        "INSERT INTO sessions (session_id, meeting_id, meeting_title, organization_id, organization_name, reason,
                               started_at, ended_at, duration_seconds, received_at, delivery_id, webhook_id,
                               has_recording, has_transcript, has_summary)
         SELECT md5(i::text), 'meeting-' || (i % 20000), 'Meeting ' || (i % 20000), 'org-' || (i % 100), 'Org',
                (ARRAY['HOST_ENDED_MEETING', 'ALL_PARTICIPANTS_LEFT', 'HOST_ENDED_MEETING'])[1 + i % 3],
                ts - interval '30 minutes', ts, 1800, ts, 'seed-' || i, 'bench',
                i % 10 = 0, i % 100 = 0, i % 1000 = 0
         FROM generate_series(1, $1) AS i,
              LATERAL (SELECT timestamptz '2026-01-01' + (i * interval '30 seconds')) AS t(ts)",
    )
    .bind(rows)
    .execute(&mut *seed)
    .await?;
    seed.execute("ALTER TABLE sessions ENABLE TRIGGER sessions_artifact_flags")
        .await?;
    seed.commit().await?;
    sqlx::query("VACUUM ANALYZE sessions").execute(&db).await?;
    println!("seeded in {:.1}s\n", seeding.elapsed().as_secs_f64());

    // A cursor 10,000 rows deep, found by walking the pages as a client would.
    let http = reqwest::Client::new();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}/sessions{query}", service.url);
        async move {
            let response = http.get(url).bearer_auth(TOKEN).send().await?;
            anyhow::ensure!(response.status().is_success(), "{}", response.status());
            Ok::<Value, anyhow::Error>(response.json().await?)
        }
    };
    let mut cursor = String::new();
    for _ in 0..20 {
        let page = get(format!("?limit=500{cursor}")).await?;
        cursor = format!("&cursor={}", page["next_cursor"].as_str().context("a next page")?);
    }
    let deep_cursor = Cursor::decode(cursor.trim_start_matches("&cursor=")).context("cursor")?;
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok()
    };
    let cases: Vec<(&str, String, ListFilter, Option<Cursor>)> = vec![
        ("first page", "?limit=50".into(), ListFilter::default(), None),
        (
            "page 10,000 rows deep",
            format!("?limit=50{cursor}"),
            ListFilter::default(),
            Some(deep_cursor.clone()),
        ),
        (
            "meeting_id",
            "?limit=50&meeting_id=meeting-4242".into(),
            ListFilter {
                meeting_id: Some("meeting-4242".into()),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "organization_id",
            "?limit=50&organization_id=org-42".into(),
            ListFilter {
                organization_id: Some("org-42".into()),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "reason",
            "?limit=50&reason=ALL_PARTICIPANTS_LEFT".into(),
            ListFilter {
                reason: Some("ALL_PARTICIPANTS_LEFT".into()),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "ended_after + ended_before",
            "?limit=50&ended_after=2026-03-01T00:00:00Z&ended_before=2026-03-02T00:00:00Z".into(),
            ListFilter {
                ended_after: t("2026-03-01T00:00:00Z"),
                ended_before: t("2026-03-02T00:00:00Z"),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_recording (1 in 10)",
            "?limit=50&has_recording=true".into(),
            ListFilter {
                has_recording: Some(true),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_transcript (1 in 100)",
            "?limit=50&has_transcript=true".into(),
            ListFilter {
                has_transcript: Some(true),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_summary (1 in 1,000)",
            "?limit=50&has_summary=true".into(),
            ListFilter {
                has_summary: Some(true),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_summary, deep cursor",
            format!("?limit=50&has_summary=true{cursor}"),
            ListFilter {
                has_summary: Some(true),
                ..ListFilter::default()
            },
            Some(deep_cursor.clone()),
        ),
        (
            "has_recording=false",
            "?limit=50&has_recording=false".into(),
            ListFilter {
                has_recording: Some(false),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "organization_id, deep cursor",
            format!("?limit=50&organization_id=org-42{cursor}"),
            ListFilter {
                organization_id: Some("org-42".into()),
                ..ListFilter::default()
            },
            Some(deep_cursor),
        ),
    ];
    println!(
        "{:<30} | {:>8} {:>8} {:>8} | plan",
        "GET /sessions", "p50 ms", "p99 ms", "max ms"
    );
    let mut plans = Vec::new();
    for (name, query, filter, cursor) in &cases {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..iterations {
            let started = Instant::now();
            let page = get(query.clone()).await?;
            latency.saturating_record(started.elapsed().as_micros() as u64);
            anyhow::ensure!(
                page["data"].as_array().is_some_and(|d| !d.is_empty()),
                "{name}: empty page"
            );
        }
        let plan = explain_session_list(&db, filter, cursor.as_ref(), 50).await?;
        let scan = plan
            .iter()
            .find(|l| l.contains("Scan"))
            .map(|l| l.trim().trim_start_matches("->").trim().to_owned())
            .unwrap_or_default();
        println!(
            "{:<30} | {:>8.2} {:>8.2} {:>8.2} | {}",
            name,
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max()),
            scan.split(" (").next().unwrap_or_default()
        );
        plans.push((name.to_string(), plan));
    }
    println!("\nEXPLAIN (ANALYZE, BUFFERS) of each:");
    for (name, plan) in plans {
        println!("\n-- {name}");
        for line in plan {
            println!("{line}");
        }
    }
    console_pages(&service, &db, rows, iterations, &cursor).await?;
    let (rss, hwm) = rss_mib(service.pid());
    println!("\nservice RSS after the query benchmark: {rss:.1} MiB (peak {hwm:.1} MiB)");
    Ok(())
}

/// The console's pages over the same million sessions, with a delivery and a follow-up job per session (1 in 1,000
/// delivery unprocessable; 1 in 1,000 job dead, 1 in 2,000 failing), signed in as a browser is.
async fn console_pages(
    service: &Service,
    db: &PgPool,
    rows: i64,
    iterations: usize,
    cursor: &str,
) -> anyhow::Result<()> {
    println!("\nseeding {rows} deliveries and {rows} follow-up jobs...");
    let seeding = Instant::now();
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, event, status, error, session_id, received_at, raw_body)
         SELECT 'seed-' || i, 'meeting.ended', CASE WHEN i % 1000 = 0 THEN 'unprocessable' ELSE 'stored' END,
                CASE WHEN i % 1000 = 0 THEN 'meeting.sessionId is missing' END, md5(i::text),
                timestamptz '2026-01-01' + (i * interval '30 seconds'), convert_to('{\"event\":\"meeting.ended\"}', 'UTF8')
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO followup_jobs (session_id, followup, kind, status, attempts, max_attempts, run_at, last_error,
                                    finished_at)
         SELECT md5(i::text), 'webhook', 'webhook',
                CASE WHEN i % 1000 = 0 THEN 'dead' WHEN i % 2000 = 1 THEN 'queued' ELSE 'succeeded' END,
                CASE WHEN i % 1000 = 0 THEN 8 WHEN i % 2000 = 1 THEN 3 ELSE 1 END, 8, now(),
                CASE WHEN i % 1000 = 0 OR i % 2000 = 1 THEN 'the receiver answered 500' END,
                CASE WHEN i % 2000 = 1 THEN NULL ELSE now() END
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(db)
    .await?;
    sqlx::query("VACUUM ANALYZE deliveries").execute(db).await?;
    sqlx::query("VACUUM ANALYZE followup_jobs").execute(db).await?;
    println!("seeded in {:.1}s\n", seeding.elapsed().as_secs_f64());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = console_sign_in(&http, &service.url).await?;
    let one_session: String = sqlx::query_scalar("SELECT md5('4242')").fetch_one(db).await?;
    let pages = [
        ("overview", "/console".to_owned()),
        ("sessions, first page", "/console/sessions".to_owned()),
        (
            "sessions, 10,000 rows deep",
            format!("/console/sessions?limit=50{cursor}"),
        ),
        (
            "sessions, meeting_id",
            "/console/sessions?meeting_id=meeting-4242".to_owned(),
        ),
        ("sessions, has_summary", "/console/sessions?has_summary=true".to_owned()),
        ("one session", format!("/console/sessions/{one_session}")),
        ("follow-ups, dead", "/console/followups?state=dead".to_owned()),
        ("follow-ups, failing", "/console/followups?state=failing".to_owned()),
        ("deliveries, unprocessable", "/console/deliveries".to_owned()),
        ("deliveries, any", "/console/deliveries?outcome=any".to_owned()),
        ("artifacts at risk", "/console/artifacts".to_owned()),
    ];
    println!(
        "{:<30} | {:>8} {:>8} {:>8} | bytes",
        "console page", "p50 ms", "p99 ms", "max ms"
    );
    for (name, path) in pages {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut size = 0;
        for _ in 0..iterations {
            let started = Instant::now();
            let response = http
                .get(format!("{}{path}", service.url))
                .header("cookie", &cookie)
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "{name}: {}", response.status());
            size = response.bytes().await?.len();
            latency.saturating_record(started.elapsed().as_micros() as u64);
        }
        println!(
            "{:<30} | {:>8.2} {:>8.2} {:>8.2} | {size}",
            name,
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max()),
        );
    }
    Ok(())
}

/// Signs in through the console's form; the `Cookie` header of the session.
async fn console_sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/console/sign-in")).send().await?;
    let form_cookie = first_cookie(form.headers()).context("the sign-in form's cookie")?;
    let page = form.text().await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in form's CSRF field")?;
    let signed_in = http
        .post(format!("{base}/console/sign-in"))
        .header("cookie", form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&csrf={csrf}"))
        .send()
        .await?;
    anyhow::ensure!(signed_in.status().is_redirection(), "sign-in: {}", signed_in.status());
    first_cookie(signed_in.headers()).context("the session cookie")
}

fn first_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::SET_COOKIE)?.to_str().ok()?;
    value.split(';').next().map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------------------------
// archive

/// Serves `size` generated bytes at any path, streamed in 64 KiB writes (never held whole), with a Content-Length:
/// what RealtimeKit's store does for a recording.
async fn serve_generated_file(size: u64) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}/recordings/bench.mp4?X-Amz-Expires=604800",
        listener.local_addr()?
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                if stream.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                let chunk: Vec<u8> = (0..65_536_u32).map(|i| (i % 251) as u8).collect();
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if stream.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(url)
}

async fn archive(cli: &Cli, size_mib: u64) -> anyhow::Result<()> {
    let signer = signer(cli)?;
    let size = size_mib * 1024 * 1024;
    let source = serve_generated_file(size).await?;
    let env = [
        "RTK_SESSIONS__WORKER__ENABLED=true".to_owned(),
        "RTK_SESSIONS__WORKER__POLL_INTERVAL_SECS=1".to_owned(),
        "RTK_SESSIONS__LOG__LEVEL=error".to_owned(),
    ];
    let service = start_service(cli, "rtk_bench_archive", &env).await?;
    let (rss_before, _) = rss_mib(service.pid());
    let session_id = "bench-archive-session";
    let ended = json!({"event": "meeting.ended", "meeting": {
        "id": "bench-meeting", "sessionId": session_id, "startedAt": "2026-06-03T10:00:00Z",
        "endedAt": "2026-06-03T10:30:00Z", "organizedBy": {"id": "bench-org", "name": "Bench"}}});
    let recording = json!({"event": "recording.statusUpdate",
        "recording": {"id": "bench-recording", "recordingId": "bench-recording", "status": "UPLOADED",
                      "downloadUrl": source, "downloadUrlExpiry": "2099-01-01T00:00:00Z",
                      "fileSize": size.to_string(), "outputFileName": "bench.mp4", "roomUUID": session_id},
        "meeting": {"id": "bench-meeting", "sessionId": session_id}});
    let http = reqwest::Client::new();
    for event in [ended, recording] {
        let body = event.to_string();
        let response = http
            .post(format!("{}{}", service.url, rtk_sessions::WEBHOOK_PATH))
            .header("rtk-signature", signer.sign(body.as_bytes()))
            .header("rtk-uuid", uuid::Uuid::new_v4().to_string())
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the delivery was answered {}",
            response.status()
        );
    }
    println!("archiving a {size_mib} MiB recording (a local server streams it; the service copies it to a folder)...");
    let started = Instant::now();
    let mut peak_sampled: f64 = 0.0;
    let state = loop {
        let (rss, _) = rss_mib(service.pid());
        peak_sampled = peak_sampled.max(rss);
        let record: Value = http
            .get(format!("{}/sessions/{session_id}", service.url))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        let artifact = &record["artifacts"]["recordings"][0];
        match artifact["state"].as_str() {
            Some("archived") => break artifact.clone(),
            Some("failed" | "lost") => bail!("the archive failed: {artifact}"),
            _ if started.elapsed() > Duration::from_secs(1800) => bail!("not archived after 30 minutes: {artifact}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let (rss_after, hwm) = rss_mib(service.pid());
    println!(
        "archived {} bytes, sha256 {}",
        state["size_bytes"],
        state["sha256"].as_str().unwrap_or("?")
    );
    println!(
        "time: {seconds:.1} s ({:.0} MiB/s, download, hash and write together)",
        size_mib as f64 / seconds
    );
    println!(
        "service RSS: {rss_before:.1} MiB before, {peak_sampled:.1} MiB at most while copying (sampled every 200 ms), \
         {rss_after:.1} MiB after; peak RSS of the process (VmHWM): {hwm:.1} MiB"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// soak

async fn soak(cli: &Cli, rate: u64, duration: Duration, interval: Duration) -> anyhow::Result<()> {
    let signer = signer(cli)?;
    let per_interval = (rate * interval.as_secs()) as usize;
    let rounds = duration.as_secs().div_ceil(interval.as_secs().max(1));
    println!("pre-signing {per_interval} deliveries (re-sent with fresh ids each interval)...");
    let base = presign(&signer, per_interval, Mix::Ended);
    let service = start_service(cli, "rtk_bench_soak", &[]).await?;
    let db = PgPool::connect(&service.database_url).await?;
    println!(
        "soak: {rate}/s for {}s; a line every {}s\n",
        duration.as_secs(),
        interval.as_secs()
    );
    println!(
        "{:>6} | {:>9} | {:>8} {:>8} {:>8} | {:>6} | {:>8} {:>8} | {:>10}",
        "t s", "acked/s", "p50 ms", "p99 ms", "max ms", "non2xx", "RSS MiB", "peak MiB", "sessions"
    );
    let started = Instant::now();
    let mut first_rss = None;
    let mut last_rss = 0.0;
    for _ in 0..rounds {
        // Fresh delivery ids each round: the bodies (and so sessions) repeat, so later rounds are duplicates of
        // earlier sessions, which exercises the duplicate path as well.
        let batch: Vec<Signed> = base
            .iter()
            .map(|s| Signed {
                body: s.body.clone(),
                signature: s.signature.clone(),
                delivery_id: uuid::Uuid::new_v4().to_string(),
            })
            .collect();
        let result = paced(&service.url, &Arc::new(batch), rate, 256, interval).await;
        let (rss, hwm) = rss_mib(service.pid());
        first_rss.get_or_insert(rss);
        last_rss = rss;
        let sessions_count: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(&db)
            .await?;
        println!(
            "{:>6} | {:>9.0} | {:>8.2} {:>8.2} {:>8.2} | {:>6} | {:>8.1} {:>8.1} | {:>10}",
            started.elapsed().as_secs(),
            result.rate(),
            ms(result.latency.value_at_quantile(0.5)),
            ms(result.latency.value_at_quantile(0.99)),
            ms(result.latency.max()),
            result.non_2xx + result.errors,
            rss,
            hwm,
            sessions_count
        );
    }
    println!(
        "\nRSS went from {:.1} MiB after the first interval to {last_rss:.1} MiB after the last",
        first_rss.unwrap_or_default()
    );
    Ok(())
}
