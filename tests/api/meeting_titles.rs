//! Title search by meeting: a database of the release before `meeting_titles` gains the titles of the sessions it
//! recorded, while that release keeps recording sessions, and loses the trigram index of every session.

use crate::helpers::{database_migrated_before, drop_database, migrate_while_writing};

/// The previous release's statement for one session, as it keeps running while the new one migrates.
const PREVIOUS_RELEASE_INSERT: &str =
    "INSERT INTO sessions (session_id, meeting_id, meeting_title, ended_at, delivery_id)
     VALUES ($1, 'during-' || $2, 'Retro ' || $2, now(), 'delivery-' || $1)
     ON CONFLICT (session_id) DO NOTHING";

/// Runs every migration left while the previous release records sessions of seven meetings (`during-0` to
/// `during-6`, titled `Retro 0` to `Retro 6`), none of them failing; returns how many it recorded.
async fn migrate_while_the_previous_release_records(db: &sqlx::PgPool) -> i64 {
    let (written, failures) = migrate_while_writing(db, 100, |db, written| async move {
        sqlx::query(PREVIOUS_RELEASE_INSERT)
            .bind(format!("during-{written}"))
            .bind((written % 7).to_string())
            .execute(&db)
            .await
            .map(drop)
    })
    .await;
    assert!(failures.is_empty(), "{failures:?}");
    written
}

#[tokio::test]
async fn the_titles_of_sessions_recorded_before_and_during_the_migration_are_all_searchable() {
    let (name, db) = database_migrated_before("meeting titles").await;
    // 3,000 sessions of 300 meetings; the 30 meetings whose number ends in 0 have no title.
    sqlx::query(
        "INSERT INTO sessions (session_id, meeting_id, meeting_title, ended_at, delivery_id)
         SELECT 'before-' || i, 'meeting-' || (i % 300), CASE WHEN i % 10 <> 0 THEN 'Board review #' || (i % 300) END,
                now() - i * interval '1 minute', 'delivery-before-' || i
         FROM generate_series(1, 3000) AS i",
    )
    .execute(&db)
    .await
    .expect("sessions of the previous release");

    let written = migrate_while_the_previous_release_records(&db).await;

    let (sessions, titled_without_meeting_title, titles): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sessions),
                (SELECT count(*) FROM sessions s WHERE meeting_title IS NOT NULL AND NOT EXISTS (
                     SELECT 1 FROM meeting_titles t WHERE t.meeting_id = s.meeting_id AND t.title = s.meeting_title)),
                (SELECT count(*) FROM meeting_titles)",
    )
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!(sessions, 3000 + written);
    assert_eq!(
        titled_without_meeting_title, 0,
        "every titled session's meeting title is recorded"
    );
    assert_eq!(titles, 270 + written.min(7), "each titled meeting's title once");
    let old_index: Option<String> = sqlx::query_scalar("SELECT to_regclass('sessions_meeting_title_trgm_idx')::text")
        .fetch_one(&db)
        .await
        .expect("old index");
    assert_eq!(old_index, None, "the trigram index of every session is gone");
    db.close().await;
    drop_database(&name);
}

#[tokio::test]
async fn the_titles_key_moves_to_the_hash_while_the_previous_release_records_sessions_of_known_meetings() {
    let (name, db) = database_migrated_before("meeting titles hash key").await;
    // 1,000 sessions of the 7 meetings the previous release keeps recording below: 7 titles under the MD5 key.
    sqlx::query(
        "INSERT INTO sessions (session_id, meeting_id, meeting_title, ended_at, delivery_id)
         SELECT 'before-' || i, 'during-' || (i % 7), 'Retro ' || (i % 7), now(), 'delivery-before-' || i
         FROM generate_series(1, 1000) AS i",
    )
    .execute(&db)
    .await
    .expect("sessions of the previous release");

    // Meanwhile the previous release records sessions of the same meetings, whose titles are known already.
    let written = migrate_while_the_previous_release_records(&db).await;

    let (sessions, titles, keys): (i64, i64, Vec<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM meeting_titles),
                (SELECT array_agg(i.indexrelid::regclass::text) FROM pg_index i
                 WHERE i.indrelid = 'meeting_titles'::regclass AND i.indisunique AND i.indisvalid)",
    )
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!(sessions, 1000 + written);
    assert_eq!(
        titles, 7,
        "each meeting's title once, before, during and after the move"
    );
    assert_eq!(keys, ["meeting_titles_hash_key"], "the hash key alone, valid");

    // The new key refuses a meeting's title twice, as the old one did.
    let again = sqlx::query("INSERT INTO meeting_titles (meeting_id, title) VALUES ('during-3', 'Retro 3')")
        .execute(&db)
        .await;
    assert!(again.is_err(), "a meeting's title recorded twice");
    db.close().await;
    drop_database(&name);
}
