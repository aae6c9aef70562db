//! The shared budget of calls to Cloudflare: each bucket's state, read and written under a row lock so that the
//! replicas take from one budget. What the state means is `realtimekit::budget`'s; this only keeps it.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One bucket's state: the theoretical arrival time of the next call, and until when a 429 pauses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketState {
    pub tat: Option<DateTime<Utc>>,
    pub paused_until: Option<DateTime<Utc>>,
}

/// A bucket's row as locked, with the database's clock.
#[derive(sqlx::FromRow)]
struct LockedRow {
    bucket: String,
    tat: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

/// Locks `buckets` (in one order, so callers never deadlock), asks `decide` with the database's clock, and writes
/// the new arrival times it grants; nothing is written when it says to wait. Returns what `decide` said.
pub async fn take<T>(
    pool: &PgPool,
    buckets: &[String],
    decide: impl FnOnce(DateTime<Utc>, &[BucketState]) -> Result<Vec<DateTime<Utc>>, T>,
) -> Result<Result<(), T>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("INSERT INTO cloudflare_budget (bucket) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING")
        .bind(buckets)
        .execute(&mut *transaction)
        .await?;
    let rows: Vec<LockedRow> = sqlx::query_as(
        "SELECT bucket, tat, paused_until, clock_timestamp() AS now FROM cloudflare_budget
         WHERE bucket = ANY($1) ORDER BY bucket FOR UPDATE",
    )
    .bind(buckets)
    .fetch_all(&mut *transaction)
    .await?;
    let Some(now) = rows.first().map(|row| row.now) else {
        return Ok(Ok(()));
    };
    // In the caller's order.
    let states: Vec<BucketState> = (buckets.iter())
        .map(|bucket| {
            let row = rows.iter().find(|row| &row.bucket == bucket);
            BucketState {
                tat: row.and_then(|row| row.tat),
                paused_until: row.and_then(|row| row.paused_until),
            }
        })
        .collect();
    let granted = match decide(now, &states) {
        Ok(granted) => granted,
        Err(wait) => return Ok(Err(wait)),
    };
    sqlx::query(
        "UPDATE cloudflare_budget b SET tat = g.tat
         FROM unnest($1::text[], $2::timestamptz[]) AS g(bucket, tat) WHERE b.bucket = g.bucket",
    )
    .bind(buckets)
    .bind(&granted)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(Ok(()))
}

/// Pauses `buckets` until `seconds` from the database's now (a 429's retry-after), or later if already paused.
pub async fn pause(pool: &PgPool, buckets: &[String], seconds: f64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cloudflare_budget AS b (bucket, paused_until)
         SELECT unnest($1::text[]), clock_timestamp() + make_interval(secs => $2)
         ON CONFLICT (bucket) DO UPDATE
         SET paused_until = greatest(b.paused_until, excluded.paused_until)",
    )
    .bind(buckets)
    .bind(seconds)
    .execute(pool)
    .await?;
    Ok(())
}
