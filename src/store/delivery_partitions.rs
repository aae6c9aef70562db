//! The day partitions of `deliveries` (UTC days of `received_at`; see the `deliveries_partitioned` migration): made
//! ahead of need, and dropped whole by retention. Each change waits at most a few seconds for its lock, so that it
//! never queues deliveries behind a long reader; the next hourly run retries what could not be done.

use std::time::Duration;

use sqlx::PgPool;

/// Partitions exist from today to this many days ahead: the hourly run has three days to succeed once.
pub const DAYS_AHEAD: i64 = 3;

/// The longest a partition change waits for its lock before giving up until the next run.
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Makes the partitions from today to [`DAYS_AHEAD`] days ahead that do not exist yet; returns how many.
pub async fn make_ahead(pool: &PgPool) -> Result<i32, sqlx::Error> {
    make(pool, chrono::Duration::zero(), chrono::Duration::days(DAYS_AHEAD)).await
}

/// Makes the partitions from `from` to `to` (relative to now) that do not exist yet, days before the history's end
/// excepted; returns how many. Benchmarks and tests lay out past days with it (see [`start_history_at`]).
pub async fn make(pool: &PgPool, from: chrono::Duration, to: chrono::Duration) -> Result<i32, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    set_lock_timeout(&mut transaction).await?;
    let made = sqlx::query_scalar("SELECT deliveries_make_partitions(now() + $1, now() + $2)")
        .bind(from)
        .bind(to)
        .fetch_one(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(made)
}

/// Drops the partitions of the days that ended more than `days` ago. The unprocessable and foreign deliveries they
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

/// Moves the end of the history partition back to the start of the day `days_ago` days before today, so that day
/// partitions can be made for the days after it. Only for a database whose history holds nothing from then on
/// (benchmarks and tests that lay out past days; a real database gets its days as they come).
pub async fn start_history_at(pool: &PgPool, days_ago: u32) -> Result<(), sqlx::Error> {
    let statement = format!(
        "DO $$ BEGIN
             ALTER TABLE deliveries DETACH PARTITION deliveries_history;
             EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION deliveries_history FOR VALUES FROM (MINVALUE) TO (%L)',
                            date_trunc('day', now(), 'UTC') - make_interval(days => {days_ago}));
         END $$"
    );
    sqlx::query(&statement).execute(pool).await.map(drop)
}

async fn set_lock_timeout(transaction: &mut sqlx::PgTransaction<'_>) -> Result<(), sqlx::Error> {
    let statement = format!("SET LOCAL lock_timeout = '{}ms'", LOCK_TIMEOUT.as_millis());
    sqlx::query(&statement).execute(&mut **transaction).await.map(drop)
}
