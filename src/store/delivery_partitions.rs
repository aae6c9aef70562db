//! The month partitions of `deliveries` (UTC months of `received_at`; see the `deliveries_partitioned` migration):
//! made ahead of need, and dropped whole by retention. Each change waits at most a few seconds for its lock, so that it
//! never queues deliveries behind a long reader; the next hourly run retries what could not be done.

use std::time::Duration;

use sqlx::PgPool;

/// Partitions exist from this month to the month this many days ahead, so next month's is made on the first of this
/// one: the hourly run has a month to succeed once.
pub const DAYS_AHEAD: i64 = 31;

/// The longest a partition change waits for its lock before giving up until the next run.
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Makes the partitions from this month to the month [`DAYS_AHEAD`] days ahead that do not exist yet; returns how
/// many.
pub async fn make_ahead(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    set_lock_timeout(&mut transaction).await?;
    let made = sqlx::query_scalar("SELECT deliveries_make_partitions(now(), now() + $1)")
        .bind(chrono::Duration::days(DAYS_AHEAD))
        .fetch_one(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(made)
}

/// Drops the partitions of the months that ended more than `days` ago. The unprocessable and foreign deliveries they
/// hold that their own retention keeps (`unprocessable_days`, `foreign_days`; 0: for good) move to the history
/// partition first. Returns how many partitions it dropped.
pub async fn drop_past(
    pool: &PgPool,
    days: u32,
    unprocessable_days: u32,
    foreign_days: u32,
) -> Result<i32, sqlx::Error> {
    let since = |days: u32| (days > 0).then(|| chrono::Utc::now() - chrono::Duration::days(i64::from(days)));
    let mut transaction = pool.begin().await?;
    set_lock_timeout(&mut transaction).await?;
    let dropped = sqlx::query_scalar("SELECT deliveries_drop_partitions($1, $2, $3)")
        .bind(chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
        .bind(since(unprocessable_days))
        .bind(since(foreign_days))
        .fetch_one(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(dropped)
}

/// Lays the partitions out again from `history_end` on: the month partitions are dropped, the history partition
/// ends at `history_end`, and the months from there to [`DAYS_AHEAD`] days ahead are made. Only for a database
/// that holds no delivery from `history_end` on (benchmarks and tests that lay out past months, or a partition
/// boundary a moment ago; a real database gets its months as they come).
pub async fn start_history_at(pool: &PgPool, history_end: chrono::DateTime<chrono::Utc>) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query(
        "DO $$
         DECLARE month_partition text;
         BEGIN
             PERFORM pg_advisory_xact_lock(7275, 3);
             FOR month_partition IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                    WHERE i.inhparent = 'deliveries'::regclass AND c.relname ~ '^deliveries_[0-9]{6}$'
             LOOP
                 EXECUTE format('DROP TABLE %I', month_partition);
             END LOOP;
             ALTER TABLE deliveries DETACH PARTITION deliveries_history;
         END $$",
    )
    .execute(&mut *transaction)
    .await?;
    // DDL takes no parameters: the bound is a literal (a timestamp's own text).
    let attach = format!(
        "ALTER TABLE deliveries ATTACH PARTITION deliveries_history FOR VALUES FROM (MINVALUE) TO ('{}')",
        history_end.to_rfc3339()
    );
    sqlx::query(&attach).execute(&mut *transaction).await?;
    sqlx::query("SELECT deliveries_make_partitions($1, now() + $2)")
        .bind(history_end)
        .bind(chrono::Duration::days(DAYS_AHEAD))
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await
}

async fn set_lock_timeout(transaction: &mut sqlx::PgTransaction<'_>) -> Result<(), sqlx::Error> {
    let statement = format!("SET LOCAL lock_timeout = '{}ms'", LOCK_TIMEOUT.as_millis());
    sqlx::query(&statement).execute(&mut **transaction).await.map(drop)
}
