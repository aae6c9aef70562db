//! A session's attendance, merged from its participant events (see `deliveries::record_batch`): one entry per peer.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// The most entries a session shows (RealtimeKit's largest meetings have a few thousand peers).
const MAX_ENTRIES_SHOWN: i64 = 10_000;

/// One peer of a session: a person who rejoins is a new entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attendee {
    pub peer_id: String,
    pub display_name: Option<String>,
    pub custom_participant_id: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    /// None while the peer is in the session (or its leave has not arrived).
    pub left_at: Option<DateTime<Utc>>,
}

/// The session's attendance, earliest join first.
pub async fn for_session(pool: &PgPool, session_id: &str) -> Result<Vec<Attendee>, sqlx::Error> {
    sqlx::query_as(
        "SELECT peer_id, display_name, custom_participant_id, joined_at, left_at FROM attendance
         WHERE session_id = $1 ORDER BY joined_at NULLS LAST, peer_id LIMIT $2",
    )
    .bind(session_id)
    .bind(MAX_ENTRIES_SHOWN)
    .fetch_all(pool)
    .await
}

/// One peer's entry in the session's attendance.
pub async fn get(pool: &PgPool, session_id: &str, peer_id: &str) -> Result<Option<Attendee>, sqlx::Error> {
    sqlx::query_as(
        "SELECT peer_id, display_name, custom_participant_id, joined_at, left_at FROM attendance
         WHERE session_id = $1 AND peer_id = $2",
    )
    .bind(session_id)
    .bind(peer_id)
    .fetch_optional(pool)
    .await
}

/// True when the events tell the whole attendance of an ended session: someone attended, and every peer's join and
/// leave are known. (A peer whose both events were lost cannot be told apart; the report's peak and minutes come
/// from the Sessions API all the same.)
pub fn is_complete(attendance: &[Attendee]) -> bool {
    !attendance.is_empty()
        && (attendance.len() as i64) < MAX_ENTRIES_SHOWN
        && attendance.iter().all(|a| a.joined_at.is_some() && a.left_at.is_some())
}
