//! Deliveries in month partitions: dedupe across a partition boundary, retention that drops whole months while
//! deliveries keep arriving, and the move of a database of the previous layout while its release keeps writing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{Duration, Utc};
use rtk_sessions::delivery_partitions;

use crate::helpers::{database_migrated_before, drop_database, migrate_while_writing, spawn_app, status_and_json};

#[tokio::test]
async fn a_retry_or_a_copy_of_a_delivery_in_the_partition_before_is_a_duplicate() {
    let app = spawn_app().await;
    // A partition boundary ten minutes ago, as at the start of a month: what came before is in the partition
    // before, where the unique keys of the one being written do not reach.
    let boundary = Utc::now() - Duration::minutes(10);
    delivery_partitions::start_history_at(&app.db, boundary)
        .await
        .expect("a boundary ten minutes ago");
    let starts_there = format!(
        "CREATE OR REPLACE FUNCTION deliveries_current_partition_start() RETURNS timestamptz
             LANGUAGE sql STABLE AS $$ SELECT '{}'::timestamptz $$",
        boundary.to_rfc3339()
    );
    sqlx::query(&starts_there)
        .execute(&app.db)
        .await
        .expect("the partition being written starts there");
    let ended = app.meeting_ended();
    let session_id = "session-across-the-boundary";
    let joined = app.signed(crate::events::participant(
        session_id,
        "peer-1",
        "Ann",
        "2026-06-03T10:00:00.000Z",
        None,
    ));
    for delivery in [&ended, &joined] {
        assert_eq!(app.deliver(delivery).await.status(), 200);
        sqlx::query("UPDATE deliveries SET received_at = now() - interval '20 minutes' WHERE delivery_id = $1")
            .bind(&delivery.delivery_id)
            .execute(&app.db)
            .await
            .expect("move the row before the boundary");
    }
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries_history")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(before, 2, "both rows are in the partition before");

    for delivery in [&ended, &joined] {
        // The same delivery again (its rtk-uuid), and the same bytes under a fresh rtk-uuid.
        let copy = app.signed(delivery.body.clone());
        for again in [delivery, &copy] {
            let (status, ack) = status_and_json(app.deliver(again).await).await;
            assert_eq!((status, ack["outcome"].as_str()), (200, Some("duplicate")), "{ack}");
        }
    }
    assert_eq!(app.count("deliveries").await, 2, "nothing recorded twice");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn retention_drops_past_months_whole_while_deliveries_keep_arriving_and_keeps_what_waits_for_an_operator() {
    let app = spawn_app().await;
    let ten_months_ago: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT date_trunc('month', now(), 'UTC') - interval '10 months'")
            .fetch_one(&app.db)
            .await
            .expect("a month start");
    delivery_partitions::start_history_at(&app.db, ten_months_ago)
        .await
        .expect("month partitions from ten months ago");
    // Nine to one months ago: stored deliveries, one unprocessable and one foreign each month.
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, event, status, raw_body, body_sha256, received_at)
         SELECT 'old-' || month || '-' || n, 'meeting.participantJoined',
                CASE n WHEN 0 THEN 'unprocessable' WHEN 1 THEN 'foreign' ELSE 'stored' END,
                '\\x7b7d', sha256(('old-' || month || '-' || n)::bytea),
                date_trunc('month', now(), 'UTC') - make_interval(months => month) + interval '1 hour'
         FROM generate_series(1, 9) AS month, generate_series(0, 99) AS n",
    )
    .execute(&app.db)
    .await
    .expect("seed past months");
    // 100 days: the months that ended before then are dropped, how many depends on today's date.
    let (to_drop, kept_months): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE ends <= now() - interval '100 days'),
                count(*) FILTER (WHERE ends > now() - interval '100 days')
         FROM generate_series(1, 9) AS month,
              LATERAL (SELECT date_trunc('month', now(), 'UTC') - make_interval(months => month - 1)) AS e(ends)",
    )
    .fetch_one(&app.db)
    .await
    .expect("expected");

    let arriving = Arc::new(AtomicBool::new(true));
    let deliveries = {
        let (arriving, http, url) = (arriving.clone(), reqwest::Client::new(), app.webhook_url());
        tokio::spawn(async move {
            let mut answered = Vec::new();
            while arriving.load(Ordering::Relaxed) || answered.len() < 50 {
                let delivery = rtk_sessions::SignedDelivery::new(
                    crate::helpers::realtimekit_signer(),
                    rtk_sessions::sample_body("meeting.ended"),
                );
                let status = delivery.request(&http, &url).send().await.expect("answer").status();
                answered.push((delivery.delivery_id, status.as_u16()));
            }
            answered
        })
    };
    let mut retention = app.settings.retention.clone();
    (
        retention.deliveries_days,
        retention.unprocessable_days,
        retention.foreign_days,
    ) = (100, 0, 0);
    let swept = rtk_sessions::sweep_deliveries(&app.db, &retention)
        .await
        .expect("sweep");
    arriving.store(false, Ordering::Relaxed);
    let answered = deliveries.await.expect("deliveries");

    // The partial first one (from ten months ago) and the months that ended more than 100 days ago.
    assert_eq!(
        i64::from(swept.partitions_dropped),
        to_drop + 1,
        "the months that ended more than 100 days ago: {swept:?}"
    );
    assert_eq!(swept.rows_deleted, 0, "no row deleted one by one");
    assert!(answered.iter().all(|(_, status)| *status == 200), "{answered:?}");
    let ids: Vec<String> = answered.into_iter().map(|(id, _)| id).collect();
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE delivery_id = ANY($1)")
        .bind(&ids)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(recorded, ids.len() as i64, "every acknowledged delivery is there");
    let left: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM deliveries WHERE delivery_id LIKE 'old-%' GROUP BY status ORDER BY status",
    )
    .fetch_all(&app.db)
    .await
    .expect("what is left");
    assert_eq!(
        left,
        [
            ("foreign".into(), 9),
            ("stored".into(), kept_months * 98),
            ("unprocessable".into(), 9)
        ],
        "the months that ended within 100 days are kept whole; of the months dropped, what waits for an operator"
    );
    let oldest_left: String = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'deliveries'::regclass AND c.relname <> 'deliveries_history' ORDER BY 1 LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .expect("partitions");
    let expected: String = sqlx::query_scalar(
        "SELECT 'deliveries_' || to_char(date_trunc('month', now(), 'UTC') - make_interval(months => $1::int4), 'YYYYMM')",
    )
    .bind(kept_months as i32)
    .fetch_one(&app.db)
    .await
    .expect("name");
    assert_eq!(oldest_left, expected);
}

/// The landed release's statement for one delivery, as it keeps running while the new one migrates.
const PREVIOUS_RELEASE_INSERT: &str =
    "INSERT INTO deliveries (delivery_id, webhook_id, event, status, raw_body, body_sha256, app_id)
     VALUES ($1, 'webhook', 'meeting.participantJoined', 'stored', '\\x7b7d', sha256($1::bytea), NULL)
     ON CONFLICT DO NOTHING";

#[tokio::test]
async fn a_database_of_the_previous_layout_moves_to_month_partitions_while_the_previous_release_keeps_writing() {
    let (name, db) = database_migrated_before("session flags per statement").await;
    sqlx::query("INSERT INTO deliveries (delivery_id, status, raw_body, body_sha256, received_at)
                 SELECT 'history-' || i, 'stored', '\\x7b7d', sha256(('history-' || i)::bytea), now() - i * interval '1 minute'
                 FROM generate_series(1, 20000) AS i")
        .execute(&db)
        .await
        .expect("history");

    let (written, failures) = migrate_while_writing(&db, 200, |db, written| async move {
        // A new delivery, and a retry of the one before it: recorded once.
        for id in [format!("during-{written}"), format!("during-{}", written.max(1) - 1)] {
            sqlx::query(PREVIOUS_RELEASE_INSERT).bind(&id).execute(&db).await?;
        }
        Ok(())
    })
    .await;

    assert!(failures.is_empty(), "{failures:?}");
    let during: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE delivery_id LIKE 'during-%'")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(during, written, "every delivery once");
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM deliveries_history WHERE delivery_id LIKE 'history-%'")
            .fetch_one(&db)
            .await
            .expect("count"),
        20000
    );
    let partitioned: bool = sqlx::query_scalar("SELECT relkind = 'p' FROM pg_class WHERE oid = 'deliveries'::regclass")
        .fetch_one(&db)
        .await
        .expect("relkind");
    assert!(partitioned);
    // The cutover is the start of a month at least two days ahead, so the release still running writes into the
    // history until then; the months from it on are made as they come near.
    let (cutover_is_a_month_start, hours_ahead): (bool, f64) = sqlx::query_as(
        "SELECT ends = date_trunc('month', ends, 'UTC'), (extract(epoch FROM ends - now()) / 3600)::float8
         FROM (SELECT substring(pg_get_expr(relpartbound, oid) FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS ends
               FROM pg_class WHERE oid = 'deliveries_history'::regclass) AS history",
    )
    .fetch_one(&db)
    .await
    .expect("the history's end");
    assert!(
        cutover_is_a_month_start && hours_ahead >= 47.9,
        "{hours_ahead} hours ahead"
    );
    db.close().await;
    drop_database(&name);
}
