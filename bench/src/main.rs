//! rtk-bench: the benchmarks of docs/PERFORMANCE.md, as one program.
//!
//! `ingest`: for each concurrency, in one run: the reference ceiling (pgbench on bench/reference), the service over
//! HTTP with real RSA signatures (pre-signed before the clock starts), and the service's own SQL driven directly;
//! ratios, latency percentiles (HDR histogram), non-2xx counts, peak RSS, and a check that every acknowledged
//! delivery is in the database; with `--seed-rows N`, against N deliveries of history, then the first pages of
//! `/deliveries` and `/sessions` at that size.
//! `queries`: seeds 1,000,000 sessions with generate_series, then times `GET /sessions` pages and filters and
//! prints the plan of each.
//! `archive`: archives one recording of `--size-mib` (1 GiB by default) streamed by a local server, and prints the
//! time and the service's peak RSS: memory stays flat whatever the size.
//! `soak`: a steady moderate rate for a long time, printing RSS and latency every interval.
//! `compare`: this build against another build's binary, in short slices taken in turn, CPU per delivery of each
//! and their ratio round by round: a change smaller than the machine's own drift between runs still shows.
//!
//! Each starts the release `rtk-sessions` binary beside it on a database of its own.

mod archive;
mod compare;
mod deliveries;
mod ingest;
mod queries;
mod seed;
mod service;
mod soak;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::archive::archive;
use crate::compare::{CompareRun, compare};
use crate::deliveries::{MEETINGS, Mix};
use crate::ingest::{IngestRun, ingest};
use crate::queries::queries;
use crate::soak::soak;

#[derive(Parser)]
#[command(
    name = "rtk-bench",
    about = "Benchmarks of rtk-sessions against this machine's own ceilings"
)]
pub(crate) struct Cli {
    /// The Postgres server (the benchmark creates its own databases there)
    #[arg(long, global = true, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub(crate) postgres: String,
    /// Where the benchmark keeps its keys and configuration
    #[arg(long, global = true, default_value = "target/bench")]
    pub(crate) work_dir: PathBuf,
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
        /// Deliveries of history already present, seeded with generate_series (a session per 20, a follow-up job
        /// per session) and kept between measurements: 0, 10000000, 50000000
        #[arg(long, default_value_t = 0)]
        seed_rows: i64,
        /// Keep the seeded history in a database of its own (`rtk_bench_seed_N`) and measure on it again in a later
        /// run with the same --seed-rows on the same day, instead of seeding anew (50 million rows take 15 to 20
        /// minutes): runs with and without history can then be taken in turn, under the same machine conditions
        #[arg(long)]
        keep_seed: bool,
        /// How many meetings the ended sessions belong to, their sessions sharing the meeting's id and title; 0
        /// gives every session a meeting (and title) of its own
        #[arg(long, default_value_t = MEETINGS)]
        meetings: usize,
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
    /// This build against another build's `rtk-sessions`, in short slices taken in turn: CPU per delivery of each
    Compare {
        /// The other build's `rtk-sessions` binary (a release build, for example of the main branch)
        #[arg(long)]
        baseline: PathBuf,
        /// Rounds; each drives both builds once, in alternating order
        #[arg(long, default_value_t = 6)]
        rounds: usize,
        /// Seconds per slice
        #[arg(long, default_value_t = 8)]
        duration: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Pre-signed deliveries (each slice starts from the first; the tables are emptied in between)
        #[arg(long, default_value_t = 120_000)]
        deliveries: usize,
        #[arg(long, value_enum, default_value_t = Mix::Ended)]
        mix: Mix,
        #[arg(long, default_value_t = MEETINGS)]
        meetings: usize,
        /// Any other setting of both services, as RTK_SESSIONS__… variables (KEY=VALUE, repeatable)
        #[arg(long = "service-env", value_name = "KEY=VALUE")]
        service_env: Vec<String>,
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

pub(crate) const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

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
            seed_rows,
            keep_seed,
            meetings,
        } => {
            let mut env = service_env.clone();
            env.push(format!("RTK_SESSIONS__INGEST__BATCH_MAX={batch_max}"));
            let run = IngestRun {
                levels: concurrency,
                duration: Duration::from_secs(*duration),
                count: *deliveries,
                reference_dir,
                service_env: &env,
                mix: *mix,
                seed_rows: *seed_rows,
                keep_seed: *keep_seed,
                meetings: *meetings,
            };
            ingest(&cli, run).await
        }
        BenchCommand::Compare {
            baseline,
            rounds,
            duration,
            concurrency,
            deliveries,
            mix,
            meetings,
            service_env,
        } => {
            let run = CompareRun {
                baseline,
                rounds: *rounds,
                duration: Duration::from_secs(*duration),
                concurrency: *concurrency,
                count: *deliveries,
                mix: *mix,
                meetings: *meetings,
                service_env,
            };
            compare(&cli, run).await
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
