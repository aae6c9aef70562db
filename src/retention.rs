//! The retention sweep: removes delivery rows older than `retention.deliveries_days`, hourly, in chunks so that it
//! never holds long locks. `unprocessable` deliveries wait for an operator and are kept for good, unless
//! `retention.unprocessable_days` says otherwise. Sessions (and their follow-up jobs and reports) are never removed.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::background;
use crate::store::database::DatabaseReadiness;

const CHUNK: i64 = 10_000;

/// Removes the delivery rows older than their retention (0 days: kept); returns how many.
pub async fn sweep_deliveries(pool: &PgPool, days_kept: u32, unprocessable_days: u32) -> Result<u64, sqlx::Error> {
    let days = |days: u32| (days > 0).then(|| i32::try_from(days).unwrap_or(i32::MAX));
    let mut removed = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM deliveries WHERE ctid = ANY (ARRAY(
                 SELECT ctid FROM deliveries
                 WHERE (status <> 'unprocessable' AND received_at < now() - make_interval(days => $1::int4))
                    OR (status = 'unprocessable' AND received_at < now() - make_interval(days => $2::int4))
                 LIMIT $3))",
        )
        // NULL (kept for good) makes its comparison NULL, so no row of that kind matches.
        .bind(days(days_kept))
        .bind(days(unprocessable_days))
        .bind(CHUNK)
        .execute(pool)
        .await?
        .rows_affected();
        removed += deleted;
        if deleted < CHUNK as u64 {
            return Ok(removed);
        }
    }
}

pub async fn run_hourly(
    pool: PgPool,
    days: u32,
    unprocessable_days: u32,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    if days == 0 && unprocessable_days == 0 {
        return;
    }
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    let pool = &pool;
    background::every(&shutdown, Duration::from_secs(3600), || async move {
        match sweep_deliveries(pool, days, unprocessable_days).await {
            Ok(0) => {}
            Ok(removed) => {
                crate::observability::retention_deleted(removed);
                tracing::info!(removed, days, "removed delivery rows past retention");
            }
            Err(error) => tracing::warn!(%error, "the retention sweep failed; the next one retries"),
        }
    })
    .await;
}
