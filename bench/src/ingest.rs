//! `ingest`: the reference ceiling, the service over HTTP, and its own SQL driven directly, at each concurrency.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use rtk_sessions::{DeliveryBody, DeliveryId, classify};
use rtk_sessions::{FollowupKind, JobSpec, JobSpecs, Trigger};
use rtk_sessions::{PublicKey, WebhookSigner, decode_signature_header};
use rtk_sessions::{VerifiedDelivery, record_deliveries, record_delivery};
use serde_json::Value;
use sqlx::PgPool;

use crate::deliveries::{LoadResult, Mix, Signed, body, drive, expected_attendance, ms, presign, recorded_attendance};
use crate::seed;
use crate::service::{CpuMark, database_url, launch_service, recreate_database, rss_mib, signer};
use crate::{Cli, TOKEN};

pub(crate) async fn pgbench(
    cli: &Cli,
    database: &str,
    script: &Path,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
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
pub(crate) async fn direct_sql(
    pool: &PgPool,
    concurrency: usize,
    duration: Duration,
    batch: usize,
    meetings: usize,
) -> anyhow::Result<f64> {
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
                // A batching task keeps its connection, as the service's writers do.
                let mut connection = match batch {
                    1 => None,
                    _ => Some(pool.acquire().await.expect("a connection")),
                };
                while Instant::now() < deadline {
                    let deliveries: Vec<VerifiedDelivery> = (0..batch)
                        .map(|i| {
                            let raw = DeliveryBody::new(Bytes::from(body(i, meetings)));
                            let json: Value = serde_json::from_slice(raw.bytes()).expect("json");
                            VerifiedDelivery {
                                delivery_id: DeliveryId::from_header_or_body(
                                    Some(&uuid::Uuid::new_v4().to_string()),
                                    &raw,
                                ),
                                webhook_id: None,
                                app_id: None,
                                classified: classify(Some(&json)),
                                body: raw,
                            }
                        })
                        .collect();
                    let result = match connection.as_mut() {
                        None => record_delivery(&pool, &deliveries[0], &jobs, 1000).await.map(drop),
                        Some(connection) => record_deliveries(connection, &deliveries, &jobs).await.map(drop),
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
pub(crate) const TABLES: &str = "deliveries, sessions, meeting_titles, followup_jobs, followup_attempts, attendance, \
     artifacts, livestream_updates, unattributed_recordings, live_sessions";

/// Those of `tables` that exist: a build from before a table was added is measured too.
pub(crate) async fn existing(pool: &PgPool, tables: &[&str]) -> anyhow::Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL")
            .bind(tables)
            .fetch_all(pool)
            .await?,
    )
}

/// Empties those of `tables` that exist.
pub(crate) async fn truncate(pool: &PgPool, tables: &str) -> anyhow::Result<()> {
    let names: Vec<&str> = tables.split(',').map(str::trim).collect();
    sqlx::query(&format!("TRUNCATE {}", existing(pool, &names).await?.join(", ")))
        .execute(pool)
        .await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// What one `rtk-bench ingest` measures.
pub(crate) struct IngestRun<'a> {
    pub(crate) levels: &'a [usize],
    pub(crate) duration: Duration,
    /// Pre-signed deliveries.
    pub(crate) count: usize,
    pub(crate) reference_dir: &'a Path,
    pub(crate) service_env: &'a [String],
    pub(crate) mix: Mix,
    /// Deliveries of history seeded before measuring (see [`seed::history`]).
    pub(crate) seed_rows: i64,
    /// Whether the seeded database is kept for, and taken from, other runs (see [`seed::kept_today`]).
    pub(crate) keep_seed: bool,
    /// How many meetings the ended sessions belong to (0: each its own).
    pub(crate) meetings: usize,
}

pub(crate) async fn ingest(cli: &Cli, run: IngestRun<'_>) -> anyhow::Result<()> {
    let IngestRun {
        levels,
        duration,
        count,
        reference_dir,
        service_env,
        mix,
        seed_rows,
        keep_seed,
        meetings,
    } = run;
    let seeded = seed_rows > 0;
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
        body(0, meetings).len()
    );
    let signing = Instant::now();
    let signed = Arc::new(presign(&signer, count, mix, meetings));
    println!("signed in {:.1}s", signing.elapsed().as_secs_f64());
    let verify_us = verify_cost(&signer);

    // A kept history lives in a database of its own, which a later run of the same day measures on again.
    let keep = seeded && keep_seed;
    let database = if keep {
        format!("rtk_bench_seed_{seed_rows}")
    } else {
        "rtk_bench".to_owned()
    };
    let reused = keep && seed::kept_today(cli, &database, seed_rows).await;
    if reused {
        println!("the history of {seed_rows} deliveries kept in {database} (seeded earlier today)");
    } else {
        recreate_database(cli, &database).await?;
    }
    let service = launch_service(cli, &database, service_env).await?;
    let db = PgPool::connect(&service.database_url).await?;
    if seeded && !reused {
        seed::history(&db, seed_rows).await?;
        if keep {
            seed::mark_kept(&db, seed_rows).await?;
        }
    }
    let idle = rss_mib(service.pid()).0;
    println!(
        "service: pid {}, {}, idle RSS {idle:.1} MiB; {}s per measurement",
        service.pid(),
        service_env.join(" "),
        duration.as_secs()
    );
    // How the server is sized decides how history weighs on ingest, so every result says it.
    let (shared_buffers, max_wal_size): (String, String) =
        sqlx::query_as("SELECT current_setting('shared_buffers'), current_setting('max_wal_size')")
            .fetch_one(&db)
            .await?;
    println!("postgres: shared_buffers {shared_buffers}, max_wal_size {max_wal_size}\n");
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

        seed::reset(&db, seeded).await?;
        let cpu = CpuMark::now(service.pid());
        let wal = wal_written(&db).await?;
        let measured_from = chrono::Utc::now() - chrono::Duration::seconds(1);
        let load = drive(&service.url, &signed, c, duration, service.pid()).await;
        let split = cpu.per_delivery(service.pid(), load.acked.len());
        let wal = wal_written(&db).await?.since(wal, load.acked.len());
        let acked_ids: Vec<&str> = load.acked.iter().map(|&i| signed[i].delivery_id.as_str()).collect();
        let stored = stored_since(&db, &acked_ids, measured_from).await?;
        let mut verified = stored as usize == acked_ids.len();
        if mix == Mix::Realistic {
            let (expected, recorded) = (expected_attendance(&load.acked), recorded_attendance(&db).await?);
            if expected != recorded {
                println!("attendance is not exact: expected {expected:?}, recorded {recorded:?}");
                verified = false;
            }
        }

        seed::reset(&db, seeded).await?;
        let sql_single = direct_sql(&db, c.min(16), duration, 1, meetings).await?;
        seed::reset(&db, seeded).await?;
        let sql_batched = direct_sql(&db, c.min(2), duration, 32.min(c.max(1)), meetings).await?;

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
            "{c:>5} | service {:>6.1} us | postgres {:>6.1} us | load generator {:>6.1} us | WAL {:>6.0} bytes, \
             {:.3} full-page images",
            split.service, split.postgres, split.load, wal.bytes, wal.full_page_images
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
        seed::reset(&db, seeded).await?;
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
    first_pages(&service.url, &db, seed_rows).await
}

/// How many of `delivery_ids` are stored, received since `since`. Bounded by the time of the measurement: only this
/// month's partition is read (a year of them, each given the whole array, made a plan too big to hand to parallel
/// workers).
pub(crate) async fn stored_since(
    db: &PgPool,
    delivery_ids: &[&str],
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE delivery_id = ANY($1) AND received_at >= $2")
            .bind(delivery_ids)
            .bind(since)
            .fetch_one(db)
            .await?,
    )
}

/// The WAL Postgres has written (the whole server's, as `pg_stat_wal` counts it: during a measurement, the load's).
#[derive(Debug, Clone, Copy)]
struct WalWritten {
    bytes: f64,
    full_page_images: f64,
}

impl WalWritten {
    /// Per acknowledged delivery since `before`. A full-page image is a whole page copied into the WAL at its first
    /// change after a checkpoint: what a page taken at a random place costs beyond its row.
    fn since(self, before: Self, deliveries: usize) -> Self {
        let per = deliveries.max(1) as f64;
        Self {
            bytes: (self.bytes - before.bytes) / per,
            full_page_images: (self.full_page_images - before.full_page_images) / per,
        }
    }
}

async fn wal_written(db: &PgPool) -> anyhow::Result<WalWritten> {
    let (bytes, full_page_images): (f64, f64) =
        sqlx::query_as("SELECT wal_bytes::float8, wal_fpi::float8 FROM pg_stat_wal")
            .fetch_one(db)
            .await?;
    Ok(WalWritten {
        bytes,
        full_page_images,
    })
}

/// The first page of `/deliveries` and of `/sessions` (newest first, 50 rows), 300 times each over HTTP, with the
/// history seeded and the last measurement's rows in place.
async fn first_pages(url: &str, db: &PgPool, seed_rows: i64) -> anyhow::Result<()> {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(db)
        .await?;
    println!(
        "
first pages with {rows} deliveries present ({seed_rows} seeded), 300 requests each:"
    );
    let http = reqwest::Client::new();
    for path in ["/deliveries?limit=50", "/sessions?limit=50"] {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..300 {
            let sent = Instant::now();
            let response = http.get(format!("{url}{path}")).bearer_auth(TOKEN).send().await?;
            if !response.status().is_success() {
                bail!("{path}: {}", response.status());
            }
            response.bytes().await?;
            latency.saturating_record(sent.elapsed().as_micros() as u64);
        }
        println!(
            "{path:<24} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max())
        );
    }
    Ok(())
}

pub(crate) fn verify_cost(signer: &WebhookSigner) -> f64 {
    let key = PublicKey::from_pem(&signer.public_key_pem().expect("pem")).expect("key");
    let body = Bytes::from(body(0, 0));
    let signature = decode_signature_header(signer.sign(&body).as_bytes()).expect("base64");
    let started = Instant::now();
    // The body's digest counted in: the service hashes each body once, for its key and its signature.
    for _ in 0..5000 {
        assert!(key.verifies(&DeliveryBody::new(body.clone()), &signature));
    }
    started.elapsed().as_secs_f64() * 1e6 / 5000.0
}

/// Offers `rate` deliveries per second (open loop: a request is sent on schedule whatever the answers).
pub(crate) async fn paced(
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
    let mut result = LoadResult::empty();
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
