//! The retention sweep: removes deliveries older than `retention.deliveries_days`, hourly, by dropping the month
//! partitions past it (and deleting, in chunks, from the history partition of the time before partitioning). It also
//! makes the partitions of the months ahead. `unprocessable` deliveries wait for an operator and are kept for good,
//! unless `retention.unprocessable_days` says otherwise; `foreign` deliveries (of an app that is not configured) are
//! kept `retention.foreign_days`, long enough to add the app and replay them. Sessions (and their follow-up jobs and
//! reports) are never removed; the live row of a session that has ended is. The same hourly sweep marks lost the files
//! RealtimeKit deleted before they could be archived.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::background;
use crate::config::RetentionSettings;
use crate::store::database::DatabaseReadiness;
use crate::store::{artifacts, delivery_partitions, live_sessions, meeting_promises};

const CHUNK: i64 = 10_000;

/// What a retention sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Month partitions dropped whole.
    pub partitions_dropped: i32,
    /// Rows deleted one by one: from the history partition (received before the month partitions), and the
    /// unprocessable and foreign deliveries past their own retention.
    pub rows_deleted: u64,
}

/// Removes the deliveries older than their retention (0 days: kept). The months that ended more than
/// `retention.deliveries_days` ago are dropped whole, their unprocessable and foreign deliveries kept as their own
/// retention says (see `delivery_partitions::drop_past`); only the history partition and those few kept rows are
/// deleted row by row.
pub async fn sweep_deliveries(pool: &PgPool, retention: &RetentionSettings) -> Result<Swept, sqlx::Error> {
    let mut swept = Swept::default();
    if retention.deliveries_days > 0 {
        swept.partitions_dropped = delivery_partitions::drop_past(
            pool,
            retention.deliveries_days,
            retention.unprocessable_days,
            retention.foreign_days,
        )
        .await?;
    }
    let days = |days: u32| (days > 0).then(|| i32::try_from(days).unwrap_or(i32::MAX));
    loop {
        // A row is named by its partition and place (ctid alone is only unique within a partition).
        let deleted = sqlx::query(
            "DELETE FROM deliveries WHERE (tableoid, ctid) IN (
                 SELECT tableoid, ctid FROM deliveries
                 WHERE (tableoid = 'deliveries_history'::regclass AND status NOT IN ('unprocessable', 'foreign')
                        AND received_at < now() - make_interval(days => $1::int4))
                    OR (status = 'unprocessable' AND received_at < now() - make_interval(days => $2::int4))
                    OR (status = 'foreign' AND received_at < now() - make_interval(days => $4::int4))
                 LIMIT $3)",
        )
        // NULL (kept for good) makes its comparison NULL, so no row of that kind matches.
        .bind(days(retention.deliveries_days))
        .bind(days(retention.unprocessable_days))
        .bind(CHUNK)
        .bind(days(retention.foreign_days))
        .execute(pool)
        .await?
        .rows_affected();
        swept.rows_deleted += deleted;
        if deleted < CHUNK as u64 {
            return Ok(swept);
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
        // Deliveries of a month without its partition would be refused (and retried by RealtimeKit): months are
        // made ahead, whatever the retention.
        match delivery_partitions::make_ahead(pool).await {
            Ok(0) => {}
            Ok(made) => tracing::info!(made, "made the delivery partitions of the months ahead"),
            Err(error) => tracing::error!(
                %error,
                days_ahead = delivery_partitions::DAYS_AHEAD,
                "making the delivery partitions of the months ahead failed; the next hourly run retries"
            ),
        }
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
            Ok(swept) if swept == Swept::default() => {}
            Ok(swept) => {
                crate::observability::retention_deleted(swept.rows_deleted);
                tracing::info!(
                    rows_deleted = swept.rows_deleted,
                    month_partitions_dropped = swept.partitions_dropped,
                    days = retention.deliveries_days,
                    "removed deliveries past retention"
                );
            }
            Err(error) => tracing::warn!(%error, "the retention sweep failed; the next one retries"),
        }
    })
    .await;
}
