//! The retention sweep: removes delivery rows older than `retention.deliveries_days`, hourly, in chunks so that it
//! never holds long locks. `unprocessable` deliveries wait for an operator and are kept for good, unless
//! `retention.unprocessable_days` says otherwise; `foreign` deliveries (of an app that is not configured) are kept
//! `retention.foreign_days`, long enough to add the app and replay them. Sessions (and their follow-up jobs and
//! reports) are never removed; the live row of a session that has ended is. The same hourly sweep marks lost the
//! files RealtimeKit deleted before they could be archived.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::background;
use crate::config::RetentionSettings;
use crate::store::database::DatabaseReadiness;
use crate::store::{artifacts, live_sessions, meeting_promises};

const CHUNK: i64 = 10_000;

/// Removes the delivery rows older than their retention (0 days: kept); returns how many.
pub async fn sweep_deliveries(pool: &PgPool, retention: &RetentionSettings) -> Result<u64, sqlx::Error> {
    let days = |days: u32| (days > 0).then(|| i32::try_from(days).unwrap_or(i32::MAX));
    let mut removed = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM deliveries WHERE ctid = ANY (ARRAY(
                 SELECT ctid FROM deliveries
                 WHERE (status NOT IN ('unprocessable', 'foreign')
                        AND received_at < now() - make_interval(days => $1::int4))
                    OR (status = 'unprocessable' AND received_at < now() - make_interval(days => $2::int4))
                    OR (status = 'foreign' AND received_at < now() - make_interval(days => $4::int4))
                 LIMIT $3))",
        )
        // NULL (kept for good) makes its comparison NULL, so no row of that kind matches.
        .bind(days(retention.deliveries_days))
        .bind(days(retention.unprocessable_days))
        .bind(CHUNK)
        .bind(days(retention.foreign_days))
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
    retention: RetentionSettings,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    let keeps_all = retention.deliveries_days == 0 && retention.unprocessable_days == 0 && retention.foreign_days == 0;
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    let (pool, retention) = (&pool, &retention);
    background::every(&shutdown, Duration::from_secs(3600), || async move {
        // Sessions that ended no longer need their live row (readers skip it already).
        if let Err(error) = live_sessions::forget_ended(pool).await {
            tracing::warn!(%error, "removing the live rows of ended sessions failed; the next sweep retries");
        }
        // Cached meeting settings are read again after an hour: a day-old entry is never used.
        if let Err(error) = meeting_promises::forget_older_than(pool, Duration::from_secs(24 * 3600)).await {
            tracing::warn!(%error, "removing old cached meeting settings failed; the next sweep retries");
        }
        // Files RealtimeKit has deleted are lost, not failed: nothing retries them, and the at-risk list is for
        // the files that can still be saved.
        match artifacts::mark_expired_lost(pool).await {
            Ok(kinds) => {
                for kind in &kinds {
                    crate::observability::artifact_lost(*kind);
                }
                if !kinds.is_empty() {
                    tracing::warn!(
                        files = kinds.len(),
                        "files RealtimeKit deleted before they were archived are lost"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "marking expired files lost failed; the next sweep retries"),
        }
        if keeps_all {
            return;
        }
        match sweep_deliveries(pool, retention).await {
            Ok(0) => {}
            Ok(removed) => {
                crate::observability::retention_deleted(removed);
                tracing::info!(
                    removed,
                    days = retention.deliveries_days,
                    "removed delivery rows past retention"
                );
            }
            Err(error) => tracing::warn!(%error, "the retention sweep failed; the next one retries"),
        }
    })
    .await;
}
