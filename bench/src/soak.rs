//! `soak`: a steady rate for a long time, RSS and latency every interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::Cli;
use crate::deliveries::{MEETINGS, Mix, Signed, ms, presign};
use crate::ingest::paced;
use crate::service::{rss_mib, signer, start_service};

pub(crate) async fn soak(cli: &Cli, rate: u64, duration: Duration, interval: Duration) -> anyhow::Result<()> {
    let signer = signer(cli)?;
    let per_interval = (rate * interval.as_secs()) as usize;
    let rounds = duration.as_secs().div_ceil(interval.as_secs().max(1));
    println!("pre-signing {per_interval} deliveries (re-sent with fresh ids each interval)...");
    let base = presign(&signer, per_interval, Mix::Ended, MEETINGS);
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
