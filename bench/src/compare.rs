//! `compare`: this build of the service against another build's binary, in short slices taken in turn on one
//! machine. A shared machine changes speed by a third from one run of `ingest` to the next, more than most changes
//! save; slices of a few seconds, alternating (AB, BA, AB, ...), put both builds under the same conditions, and
//! each round's pair is compared on its own. Each slice drives one build at one concurrency with the same
//! pre-signed deliveries, after both databases are emptied, and checks that every acknowledged delivery is stored.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use sqlx::PgPool;

use crate::Cli;
use crate::deliveries::{Mix, Signed, drive, presign};
use crate::ingest::stored_since;
use crate::seed;
use crate::service::{CpuMark, CpuSplit, Service, launch_binary, launch_service, recreate_database, signer};

/// The slice of each build before the rounds, not counted.
const WARM_UP: Duration = Duration::from_secs(3);

/// What one `rtk-bench compare` measures.
pub(crate) struct CompareRun<'a> {
    /// The other build's `rtk-sessions` binary.
    pub(crate) baseline: &'a Path,
    pub(crate) rounds: usize,
    /// Per slice.
    pub(crate) duration: Duration,
    pub(crate) concurrency: usize,
    /// Pre-signed deliveries, enough for a slice.
    pub(crate) count: usize,
    pub(crate) mix: Mix,
    pub(crate) meetings: usize,
    pub(crate) service_env: &'a [String],
}

/// One build under test: its service and its database.
struct Build {
    name: &'static str,
    service: Service,
    db: PgPool,
    /// Per round, the CPU a delivery.
    splits: Vec<CpuSplit>,
}

pub(crate) async fn compare(cli: &Cli, run: CompareRun<'_>) -> anyhow::Result<()> {
    let signer = signer(cli)?;
    println!("pre-signing {} deliveries of the {:?} mix...", run.count, run.mix);
    let signed = Arc::new(presign(&signer, run.count, run.mix, run.meetings));

    recreate_database(cli, "rtk_bench").await?;
    recreate_database(cli, "rtk_bench_baseline").await?;
    let this = launch_service(cli, "rtk_bench", run.service_env).await?;
    let baseline = launch_binary(cli, run.baseline, "rtk_bench_baseline", run.service_env).await?;
    let mut builds = [under_test("this", this).await?, under_test("baseline", baseline).await?];
    println!(
        "{} rounds of {} s a build at {} connections; baseline {}\n",
        run.rounds,
        run.duration.as_secs(),
        run.concurrency,
        run.baseline.display()
    );
    println!(
        "{:>5} {:>8} | {:>10} | {:>9} {:>9} {:>9} {:>9} | {:>10}",
        "round", "build", "deliv/s", "service", "postgres", "together", "load gen", "together/load"
    );
    // A first slice of each, not counted: a service's first seconds fill its caches and prepare its statements.
    // Each database is emptied before the first slice and after every one, so both are empty at every start.
    for build in &builds {
        seed::reset(&build.db, false).await?;
        drive(
            &build.service.url,
            &signed,
            run.concurrency,
            WARM_UP,
            build.service.pid(),
        )
        .await;
        seed::reset(&build.db, false).await?;
    }
    for round in 0..run.rounds {
        // The order alternates, so that neither build always follows the other.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let build = &mut builds[index];
            slice(build, &signed, &run, round).await?;
            seed::reset(&build.db, false).await?;
        }
    }

    let [this, baseline] = &builds;
    let per_round = |build: &Build, of: fn(&CpuSplit) -> f64| build.splits.iter().map(of).collect::<Vec<f64>>();
    let ratios: Vec<f64> = (this.splits.iter().zip(&baseline.splits))
        .map(|(this, baseline)| this.relative() / baseline.relative())
        .collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(low, high), r| (low.min(*r), high.max(*r)));
    println!(
        "\nservice + Postgres CPU a delivery, divided by the load generator's: this build {:.2}, baseline {:.2} \
         (means of {} rounds)",
        mean(&per_round(this, CpuSplit::relative)),
        mean(&per_round(baseline, CpuSplit::relative)),
        run.rounds
    );
    println!(
        "in us: this build {:.1}, baseline {:.1} (means; the machine's speed moves these)",
        mean(&per_round(this, CpuSplit::together)),
        mean(&per_round(baseline, CpuSplit::together))
    );
    println!(
        "this build / baseline, round by round: mean {:.3} ({:+.1}%), median {:.3}, from {low:.3} to {high:.3}",
        mean(&ratios),
        (mean(&ratios) - 1.0) * 100.0,
        median(&ratios)
    );
    Ok(())
}

async fn under_test(name: &'static str, service: Service) -> anyhow::Result<Build> {
    let db = PgPool::connect(&service.database_url).await?;
    Ok(Build {
        name,
        service,
        db,
        splits: Vec::new(),
    })
}

async fn slice(build: &mut Build, signed: &Arc<Vec<Signed>>, run: &CompareRun<'_>, round: usize) -> anyhow::Result<()> {
    let pid = build.service.pid();
    let measured_from = chrono::Utc::now() - chrono::Duration::seconds(1);
    let cpu = CpuMark::now(pid);
    let load = drive(&build.service.url, signed, run.concurrency, run.duration, pid).await;
    let split = cpu.per_delivery(pid, load.acked.len());
    let acked: Vec<&str> = load.acked.iter().map(|&i| signed[i].delivery_id.as_str()).collect();
    let stored = stored_since(&build.db, &acked, measured_from).await?;
    if stored as usize != acked.len() || load.non_2xx + load.errors > 0 {
        bail!(
            "{}: {} acked, {stored} stored, {} not 2xx: a comparison that loses data has no result",
            build.name,
            acked.len(),
            load.non_2xx + load.errors
        );
    }
    println!(
        "{:>5} {:>8} | {:>10.0} | {:>6.1} us {:>6.1} us {:>6.1} us {:>6.1} us | {:>10.2}",
        round + 1,
        build.name,
        load.rate(),
        split.service,
        split.postgres,
        split.together(),
        split.load,
        split.relative()
    );
    build.splits.push(split);
    Ok(())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
