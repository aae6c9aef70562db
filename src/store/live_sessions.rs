//! Sessions that started and have not ended: what `meeting.started` recorded (see `deliveries::record`), read while
//! no ended session of the same id exists. Newest started first, with keyset pagination on `(started_at,
//! session_id)`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::cursor::Cursor;

/// A session that started and has not ended, with who is in it now.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LiveSession {
    pub session_id: String,
    pub meeting_id: String,
    pub meeting_title: Option<String>,
    pub room_name: Option<String>,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    /// The app that hosts the session (the same value as `organization_id`).
    pub app_id: Option<String>,
    pub meeting_created_at: Option<DateTime<Utc>>,
    /// When RealtimeKit says it started (or, when the event does not say, when the event was received).
    pub started_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// The `meeting.started` delivery that recorded it.
    pub delivery_id: Option<String>,
    /// Peers in it now: joined and not left, by the participant events received so far.
    pub participants_now: i64,
    /// The last time reconciliation asked the Sessions API about it.
    pub checked_at: Option<DateTime<Utc>>,
    /// Set when it has been live for longer than `reconcile.stale_live_hours` and RealtimeKit did not say it ended:
    /// its `meeting.ended` may be lost and RealtimeKit may not know it either.
    pub stale_since: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "l.session_id, l.meeting_id, l.meeting_title, l.room_name, l.organization_id, \
     l.organization_name, l.organization_id AS app_id, l.meeting_created_at, l.started_at, l.received_at, \
     l.delivery_id, l.checked_at, l.stale_since, \
     (SELECT count(*) FROM attendance a WHERE a.session_id = l.session_id AND a.left_at IS NULL) AS participants_now";

/// Skips a session that has ended (its row waits for retention to remove it).
const NOT_ENDED: &str = "NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = l.session_id)";

#[derive(Debug, Clone, Default)]
pub struct LiveFilter {
    pub meeting_id: Option<String>,
    pub organization_id: Option<String>,
    /// The same column as `organization_id`, by the name the configuration gives it.
    pub app_id: Option<String>,
    /// `true`: only stale sessions; `false`: only those not stale.
    pub stale: Option<bool>,
    /// Sessions whose meeting title contains every one of these words, whatever their case.
    pub title_words: Vec<String>,
}

pub struct LivePage {
    pub sessions: Vec<LiveSession>,
    pub next_cursor: Option<Cursor>,
}

pub async fn list(
    pool: &PgPool,
    filter: &LiveFilter,
    cursor: Option<&Cursor>,
    limit: u16,
) -> Result<LivePage, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM live_sessions l WHERE {NOT_ENDED}"));
    for (column, value) in [
        ("l.meeting_id", &filter.meeting_id),
        ("l.organization_id", &filter.organization_id),
        ("l.organization_id", &filter.app_id),
    ] {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = ")).push_bind(value.as_str());
        }
    }
    match filter.stale {
        Some(true) => query.push(" AND l.stale_since IS NOT NULL"),
        Some(false) => query.push(" AND l.stale_since IS NULL"),
        None => &mut query,
    };
    for word in &filter.title_words {
        query
            .push(" AND l.meeting_title ILIKE ")
            .push_bind(super::sessions::contains(word));
    }
    if let Some(cursor) = cursor {
        query
            .push(" AND (l.started_at, l.session_id) < (")
            .push_bind(cursor.at())
            .push(", ")
            .push_bind(cursor.id())
            .push(")");
    }
    query
        .push(" ORDER BY l.started_at DESC, l.session_id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let mut sessions: Vec<LiveSession> = query.build_query_as().fetch_all(pool).await?;
    let next_cursor = if sessions.len() > usize::from(limit) {
        sessions.truncate(usize::from(limit));
        sessions.last().map(|s| Cursor::after(s.started_at, &s.session_id))
    } else {
        None
    };
    Ok(LivePage { sessions, next_cursor })
}

/// The session, while it is live.
pub async fn get(pool: &PgPool, session_id: &str) -> Result<Option<LiveSession>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM live_sessions l WHERE l.session_id = $1 AND {NOT_ENDED}"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await
}

/// What `meeting.started` recorded of the session, live or ended since (until retention forgets it).
pub async fn get_started(pool: &PgPool, session_id: &str) -> Result<Option<LiveSession>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM live_sessions l WHERE l.session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await
}

/// Up to `limit` live sessions of the app that started before `started_before` and were not checked since
/// `checked_before`, oldest first. A session without an app id belongs to the app when it is the only one.
pub async fn due_for_check(
    pool: &PgPool,
    app_id: &str,
    only_app: bool,
    started_before: DateTime<Utc>,
    checked_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT l.session_id FROM live_sessions l
         WHERE (l.organization_id = $1 OR ($2 AND l.organization_id IS NULL))
           AND l.started_at < $3 AND (l.checked_at IS NULL OR l.checked_at < $4) AND {NOT_ENDED}
         ORDER BY l.started_at LIMIT $5"
    ))
    .bind(app_id)
    .bind(only_app)
    .bind(started_before)
    .bind(checked_before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Notes a check of the Sessions API that did not end the session: stale from now (or since it first was), or,
/// when RealtimeKit says it is still live, not stale.
pub async fn checked(pool: &PgPool, session_id: &str, stale: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE live_sessions SET checked_at = now(),
                stale_since = CASE WHEN $2 THEN coalesce(stale_since, now()) END
         WHERE session_id = $1",
    )
    .bind(session_id)
    .bind(stale)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes the rows of sessions that have ended (readers already skip them); the number removed.
pub async fn forget_ended(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM live_sessions l USING sessions s WHERE s.session_id = l.session_id")
        .execute(pool)
        .await?
        .rows_affected();
    Ok(removed)
}
