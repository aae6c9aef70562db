//! Reading recorded sessions: one by id, or a page of them, newest ended first, with keyset pagination on
//! `(ended_at, session_id)` so that no row is skipped or repeated while new sessions arrive between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryScalar;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::EndedSession;
use crate::store::followup_jobs::JobSpecs;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Session {
    pub session_id: String,
    pub meeting_id: String,
    pub meeting_title: Option<String>,
    pub room_name: Option<String>,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub reason: Option<String>,
    pub meeting_created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: Option<i64>,
    pub received_at: DateTime<Utc>,
    /// `None` for a session found by reconciliation.
    pub delivery_id: Option<String>,
    pub webhook_id: Option<String>,
    /// `delivery` or `reconciliation`.
    pub source: String,
}

const COLUMNS: &str = "session_id, meeting_id, meeting_title, room_name, organization_id, organization_name, reason, \
     meeting_created_at, started_at, ended_at, duration_seconds, received_at, delivery_id, webhook_id, source";

/// The position after the last row of a page. Opaque to clients: base64url of `v1:<ended_at µs>:<session_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    ended_at_micros: i64,
    session_id: String,
}

impl Cursor {
    fn after(session: &Session) -> Self {
        Self {
            ended_at_micros: session.ended_at.timestamp_micros(),
            session_id: session.session_id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", self.ended_at_micros, self.session_id))
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix("v1:")?;
        let (micros, session_id) = rest.split_once(':')?;
        let ended_at_micros = micros.parse().ok()?;
        DateTime::from_timestamp_micros(ended_at_micros)?;
        Some(Self {
            ended_at_micros,
            session_id: session_id.to_owned(),
        })
    }

    fn ended_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.ended_at_micros).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub meeting_id: Option<String>,
    pub organization_id: Option<String>,
    pub reason: Option<String>,
    /// Inclusive: sessions that ended at or after this instant.
    pub ended_after: Option<DateTime<Utc>>,
    /// Exclusive: sessions that ended before this instant.
    pub ended_before: Option<DateTime<Utc>>,
}

pub struct Page {
    pub sessions: Vec<Session>,
    pub next_cursor: Option<Cursor>,
}

/// Binds a session's fields as `$1` to `$11`, in the column order both recording statements use.
pub(crate) fn bind_session_fields<'q, O>(
    query: QueryScalar<'q, Postgres, O, PgArguments>,
    session: &'q EndedSession,
) -> QueryScalar<'q, Postgres, O, PgArguments> {
    query
        .bind(&session.session_id)
        .bind(&session.meeting_id)
        .bind(&session.meeting_title)
        .bind(&session.room_name)
        .bind(&session.organization_id)
        .bind(&session.organization_name)
        .bind(&session.reason)
        .bind(session.meeting_created_at)
        .bind(session.started_at)
        .bind(session.ended_at)
        .bind(session.duration_seconds)
}

/// Records a session that no delivery brought; false when it is already recorded.
pub async fn record_reconciled(pool: &PgPool, session: &EndedSession, jobs: &JobSpecs) -> Result<bool, sqlx::Error> {
    let query = sqlx::query_scalar(
        "WITH new_session AS (
             INSERT INTO sessions (session_id, meeting_id, meeting_title, room_name, organization_id, organization_name,
                                   reason, meeting_created_at, started_at, ended_at, duration_seconds, source)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'reconciliation')
             ON CONFLICT (session_id) DO NOTHING
             RETURNING session_id
         ), new_jobs AS (
             INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
             SELECT new_session.session_id, f.name, f.kind, $14
             FROM new_session, unnest($12::text[], $13::text[]) AS f(name, kind)
         )
         SELECT session_id FROM new_session",
    );
    let inserted: Option<String> = bind_session_fields(query, session)
        .bind(&jobs.names)
        .bind(&jobs.kinds)
        .bind(jobs.max_attempts)
        .fetch_optional(pool)
        .await?;
    Ok(inserted.is_some())
}

pub async fn get(pool: &PgPool, session_id: &str) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sessions WHERE session_id = $1"))
        .bind(session_id)
        .fetch_optional(pool)
        .await
}

/// The listing statement; `prefix` lets [`explain_list`] run exactly what [`list`] runs.
fn list_query<'a>(
    prefix: &str,
    filter: &'a ListFilter,
    cursor: Option<&'a Cursor>,
    limit: u16,
) -> QueryBuilder<'a, Postgres> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("{prefix}SELECT {COLUMNS} FROM sessions WHERE TRUE"));
    for (column, value) in [
        ("meeting_id", &filter.meeting_id),
        ("organization_id", &filter.organization_id),
        ("reason", &filter.reason),
    ] {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = ")).push_bind(value.as_str());
        }
    }
    if let Some(after) = filter.ended_after {
        query.push(" AND ended_at >= ").push_bind(after);
    }
    if let Some(before) = filter.ended_before {
        query.push(" AND ended_at < ").push_bind(before);
    }
    if let Some(cursor) = cursor {
        // A row comparison matches the index order exactly, so the page starts with an index seek.
        query
            .push(" AND (ended_at, session_id) < (")
            .push_bind(cursor.ended_at())
            .push(", ")
            .push_bind(cursor.session_id.as_str())
            .push(")");
    }
    query
        .push(" ORDER BY ended_at DESC, session_id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    query
}

/// The plan Postgres runs for a listing, with its actual timings (for the query benchmark).
pub async fn explain_list(
    pool: &PgPool,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
    limit: u16,
) -> Result<Vec<String>, sqlx::Error> {
    list_query("EXPLAIN (ANALYZE, BUFFERS) ", filter, cursor, limit)
        .build_query_scalar()
        .fetch_all(pool)
        .await
}

pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
    limit: u16,
) -> Result<Page, sqlx::Error> {
    let mut query = list_query("", filter, cursor, limit);
    let mut sessions: Vec<Session> = query.build_query_as().fetch_all(pool).await?;
    let next_cursor = if sessions.len() > usize::from(limit) {
        sessions.truncate(usize::from(limit));
        sessions.last().map(Cursor::after)
    } else {
        None
    };
    Ok(Page { sessions, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor {
            ended_at_micros: 1_780_482_600_123_456,
            session_id: "a:b:c".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for garbage in [
            "",
            "!!!",
            "djE6",
            &URL_SAFE_NO_PAD.encode("v2:1:x"),
            &URL_SAFE_NO_PAD.encode("v1:x:y"),
            &URL_SAFE_NO_PAD.encode(format!("v1:{}:y", i64::MAX)),
        ] {
            assert_eq!(Cursor::decode(garbage), None, "{garbage}");
        }
    }
}
