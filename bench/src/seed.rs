//! History seeded with `generate_series` before a measurement, so that ingest and the lists are timed against
//! tables of a realistic size, not empty ones: sessions (titles of eight kinds, the artifact flags of a real
//! mix), and deliveries of the realistic mix with a session per twenty, follow-up jobs per session. Seeded rows
//! are told apart from measured ones, so that a measurement can be undone without losing the seed.

use std::time::Instant;

use sqlx::{Connection, PgConnection, PgPool};

use crate::Cli;
use crate::ingest::{TABLES, existing, truncate};
use crate::service::database_url;

/// Seeded deliveries' ids start with it; seeded sessions are from the webhook `bench-seed`, seeded jobs are of
/// the follow-up `seed`.
const SEEDED_DELIVERY: &str = "seed-";

/// The tables that hold seeded rows, which a measurement's undoing keeps.
const SEEDED_TABLES: [&str; 4] = ["deliveries", "sessions", "meeting_titles", "followup_jobs"];

/// `rows` ended sessions, `md5(i)` for i in 1..=rows, one every 30 seconds from 2026-01-01: 1 in 10 with a
/// recording, 1 in 100 with a transcript, 1 in 1,000 with a summary.
pub(crate) async fn sessions(db: &PgPool, rows: i64) -> anyhow::Result<()> {
    let mut seed = db.begin().await?;
    sqlx::query(
        "INSERT INTO sessions (session_id, meeting_id, meeting_title, organization_id, organization_name, reason,
                               started_at, ended_at, duration_seconds, received_at, delivery_id, webhook_id,
                               has_recording, has_transcript, has_summary)
         SELECT md5(i::text), 'meeting-' || (i % 20000), (ARRAY['Board review', 'Weekly engineering sync', 'Customer onboarding', 'All hands', 'Design critique',
                       'Sales pipeline', 'Support standup', 'Hiring panel'])[1 + i % 8] || ' #' || (i % 20000), 'org-' || (i % 100), 'Org',
                (ARRAY['HOST_ENDED_MEETING', 'ALL_PARTICIPANTS_LEFT', 'HOST_ENDED_MEETING'])[1 + i % 3],
                ts - interval '30 minutes', ts, 1800, ts, 'seed-' || i, 'bench-seed',
                i % 10 = 0, i % 100 = 0, i % 1000 = 0
         FROM generate_series(1, $1) AS i,
              LATERAL (SELECT timestamptz '2026-01-01' + (i * interval '30 seconds')) AS t(ts)",
    )
    .bind(rows)
    .execute(&mut *seed)
    .await?;
    seed.commit().await?;
    sqlx::query("VACUUM ANALYZE sessions").execute(db).await?;
    // Their meetings' titles, added by the sessions' trigger, with the statistics autovacuum would have gathered
    // by then: title search plans by how many meetings a word matches.
    for table in existing(db, &["meeting_titles"]).await? {
        sqlx::query(&format!("VACUUM ANALYZE {table}")).execute(db).await?;
    }
    Ok(())
}

/// `rows` deliveries of the realistic mix (8 in 10 participant events, 1 `meeting.ended`, 1 of the others; each
/// body distinct, with its SHA-256 as ingest keeps it), a session per 20 deliveries and a follow-up job per
/// session, received over the year before the measurement, in the month partitions of that year. Done in chunks of
/// a million, each committed.
pub(crate) async fn history(db: &PgPool, rows: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "seeding {rows} deliveries, {} sessions and their follow-up jobs...",
        rows / 20
    );
    // A year of the partitioned layout: a partition per month, the history before them empty.
    rtk_sessions::delivery_partitions::start_history_at(db, chrono::Utc::now() - chrono::Duration::days(366)).await?;
    const CHUNK: i64 = 1_000_000;
    let mut from = 1;
    while from <= rows {
        let to = (from + CHUNK - 1).min(rows);
        sqlx::query(
            "INSERT INTO deliveries (delivery_id, event, status, session_id, received_at, raw_body, body_sha256)
             SELECT 'seed-' || i, event, 'stored', md5((i / 20)::text), now() - interval '365 days' * (1 - i::float8 / $3),
                    body, sha256(body)
             FROM generate_series($1::bigint, $2::bigint) AS i,
                  LATERAL (SELECT CASE WHEN i % 10 < 4 THEN 'meeting.participantJoined'
                                       WHEN i % 10 < 8 THEN 'meeting.participantLeft'
                                       WHEN i % 10 = 8 THEN 'meeting.ended'
                                       ELSE 'recording.statusUpdate' END) AS e(event),
                  LATERAL (SELECT convert_to('{\"event\":\"' || event || '\",\"seed\":' || i || ',\"meeting\":{\"sessionId\":\"'
                                             || md5((i / 20)::text) || '\"},\"pad\":\"' || repeat('x', 600) || '\"}', 'UTF8')) AS b(body)",
        )
        .bind(from)
        .bind(to)
        .bind(rows as f64)
        .execute(db)
        .await?;
        from = to + 1;
    }
    sessions(db, rows / 20).await?;
    sqlx::query(
        "INSERT INTO followup_jobs (session_id, followup, kind, status, attempts, max_attempts, run_at, finished_at)
         SELECT md5(i::text), 'seed', 'webhook', 'succeeded', 1, 8, now(), now()
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows / 20)
    .execute(db)
    .await?;
    for table in ["deliveries", "followup_jobs"] {
        sqlx::query(&format!("VACUUM ANALYZE {table}")).execute(db).await?;
    }
    settle(db).await?;
    let size: String = sqlx::query_scalar(
        "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('deliveries')",
    )
    .fetch_one(db)
    .await?;
    println!(
        "seeded in {:.1}s; deliveries with their indexes: {size}\n",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Marks the history just seeded in `db` as kept for later runs (see [`kept_today`]): how many rows, and its oldest.
pub(crate) async fn mark_kept(db: &PgPool, rows: i64) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE rtk_bench_seed (rows int8 NOT NULL, oldest timestamptz NOT NULL,
                                      seeded_on date NOT NULL DEFAULT current_date)",
    )
    .execute(db)
    .await?;
    sqlx::query("INSERT INTO rtk_bench_seed (rows, oldest) SELECT $1, min(received_at) FROM deliveries")
        .bind(rows)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether `database` holds a complete seed of `rows` made today (the mark is written once the seed is done) and
/// still whole (its oldest delivery still there: no retention dropped its first months since). A seed of another
/// day is made again: its year ends on its own day, and so do the partitions it fills.
pub(crate) async fn kept_today(cli: &Cli, database: &str, rows: i64) -> bool {
    let Ok(mut db) = PgConnection::connect(&database_url(cli, database)).await else {
        return false;
    };
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM rtk_bench_seed
                        WHERE rows = $1 AND seeded_on = current_date
                          AND oldest = (SELECT min(received_at) FROM deliveries))",
    )
    .bind(rows)
    .fetch_one(&mut db)
    .await
    .unwrap_or(false)
}

/// Undoes a measurement: every row it wrote goes, the seed stays (then a vacuum, so that the next measurement
/// meets no dead rows). Without a seed, the tables are emptied.
pub(crate) async fn reset(db: &PgPool, seeded: bool) -> anyhow::Result<()> {
    if !seeded {
        return truncate(db, TABLES).await;
    }
    let others: Vec<&str> = (TABLES.split(','))
        .map(str::trim)
        .filter(|t| !SEEDED_TABLES.contains(t))
        .collect();
    truncate(db, &others.join(", ")).await?;
    // Only the partition being written holds measured rows: the seed's other months are not read.
    sqlx::query(&format!(
        "DELETE FROM deliveries WHERE received_at >= deliveries_current_partition_start()
             AND delivery_id NOT LIKE '{SEEDED_DELIVERY}%'"
    ))
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM sessions WHERE webhook_id IS DISTINCT FROM 'bench-seed'")
        .execute(db)
        .await?;
    let seeded_tables = existing(db, &SEEDED_TABLES).await?;
    if seeded_tables.iter().any(|t| t == "meeting_titles") {
        // The seed's meetings are `meeting-n`; the measured ones are not.
        sqlx::query("DELETE FROM meeting_titles WHERE meeting_id NOT LIKE 'meeting-%'")
            .execute(db)
            .await?;
    }
    sqlx::query("DELETE FROM followup_jobs WHERE followup <> 'seed'")
        .execute(db)
        .await?;
    for table in seeded_tables {
        sqlx::query(&format!("VACUUM {table}")).execute(db).await?;
    }
    settle(db).await
}

/// Writes out what the seed or the undoing left dirty, so that the measurement that follows pays for its own writes
/// only, as on a database whose history grew over months, not for the flush of a bulk load. Then reads the indexes
/// that take rows at random places into shared buffers, where they are on a server that has been recording for a
/// while: without it, the first minute on a history just seeded, or on a server just restarted, reads them from
/// disk as it goes (16% fewer deliveries a second at 50 million rows than the minute after it).
async fn settle(db: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CHECKPOINT").execute(db).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .execute(db)
        .await?;
    for index in rtk_sessions::random_insert_indexes(db).await? {
        sqlx::query("SELECT pg_prewarm($1::regclass)")
            .bind(&index)
            .execute(db)
            .await?;
    }
    Ok(())
}
