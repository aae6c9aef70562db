//! Keyset pagination: walking every page while new sessions keep arriving skips and repeats nothing.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::helpers::{spawn_app, status_and_json};
use crate::sessions_api::record_session;

async fn insert_sessions(app: &crate::helpers::TestApp, prefix: &str, count: usize, base: DateTime<Utc>) {
    // Straight into the table: fast, and it lets many sessions share one ended_at (the tie-break case).
    sqlx::query(
        "INSERT INTO sessions (session_id, meeting_id, ended_at, delivery_id)
         SELECT $1 || '-' || i, 'meeting-' || (i % 7), $2 - make_interval(mins => (i / 3)), 'seed-' || $1 || i
         FROM generate_series(1, $3) AS i",
    )
    .bind(prefix)
    .bind(base)
    .bind(count as i32)
    .execute(&app.db)
    .await
    .expect("seed sessions");
}

#[tokio::test]
async fn walking_all_pages_while_sessions_arrive_sees_every_existing_session_exactly_once() {
    let app = spawn_app().await;
    let base = Utc::now();
    insert_sessions(&app, "existing", 300, base).await;

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut previous: Option<(String, String)> = None;
    for page_number in 0.. {
        let query = match &cursor {
            Some(cursor) => format!("?limit=7&cursor={cursor}"),
            None => "?limit=7".to_owned(),
        };
        let (status, page) = status_and_json(app.get_sessions(&query).await).await;
        assert_eq!(status, 200);
        for session in page["data"].as_array().expect("array") {
            let key = (
                session["ended_at"].as_str().expect("ended_at").to_owned(),
                session["session_id"].as_str().expect("id").to_owned(),
            );
            if let Some(previous) = &previous {
                let ordered = DateTime::parse_from_rfc3339(&key.0).expect("t")
                    < DateTime::parse_from_rfc3339(&previous.0).expect("t")
                    || (key.0 == previous.0 && key.1 < previous.1);
                assert!(
                    ordered,
                    "newest ended first, then session id: {previous:?} before {key:?}"
                );
            }
            previous = Some(key.clone());
            seen.push(key.1);
        }
        // Sessions keep arriving between pages: newer ones, and late ones that ended long ago.
        insert_sessions(&app, &format!("new-{page_number}"), 2, base + Duration::hours(1)).await;
        record_session(
            &app,
            &format!("late-{page_number}"),
            "m",
            "o",
            "HOST_ENDED_MEETING",
            base - Duration::days(30),
        )
        .await;
        match &page["next_cursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            _ => break,
        }
    }

    let existing: Vec<&String> = seen.iter().filter(|id| id.starts_with("existing-")).collect();
    let distinct: HashSet<&String> = existing.iter().copied().collect();
    assert_eq!(existing.len(), 300, "no existing session skipped");
    assert_eq!(distinct.len(), 300, "no session repeated");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "nothing repeated at all"
    );
}

#[tokio::test]
async fn the_last_page_has_no_next_cursor_and_a_filter_pages_too() {
    let app = spawn_app().await;
    insert_sessions(&app, "s", 20, Utc::now()).await;

    let (_, first) = status_and_json(app.get_sessions("?limit=10").await).await;
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, second) = status_and_json(app.get_sessions(&format!("?limit=10&cursor={cursor}")).await).await;
    assert_eq!(second["data"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        second["next_cursor"],
        Value::Null,
        "exactly 20 rows: the second page is the last"
    );

    // meeting-3: i in {3, 10, 17}
    let (_, page) = status_and_json(app.get_sessions("?meeting_id=meeting-3&limit=2").await).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"].as_str().expect("more").to_owned();
    let (_, rest) = status_and_json(
        app.get_sessions(&format!("?meeting_id=meeting-3&limit=2&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next_cursor"], Value::Null);
}
