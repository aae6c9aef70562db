//! Reading recorded sessions: one by id, or a page of them, newest ended first, with keyset pagination on
//! `(ended_at, session_id)` so that no row is skipped or repeated while new sessions arrive between pages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryScalar;
use sqlx::{PgPool, Postgres, QueryBuilder};

pub use super::cursor::Cursor;
use crate::domain::{EndedSession, SessionSource};
use crate::store::followup_jobs;
use crate::store::job_specs::{self, JobSpecs};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
/// A recorded session: what RealtimeKit said of it, and how and when it reached us. What the store returns and
/// the API serves.
pub struct Session {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub ended: EndedSession,
    pub received_at: DateTime<Utc>,
    /// `None` for a session found by reconciliation.
    pub delivery_id: Option<String>,
    pub webhook_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub source: SessionSource,
    /// The app that hosted the session: RealtimeKit's `organization_id` (the same value), under the name the
    /// configuration uses.
    pub app_id: Option<String>,
}

const COLUMNS: &str = "session_id, meeting_id, meeting_title, room_name, organization_id, organization_name, reason, \
     meeting_created_at, started_at, ended_at, duration_seconds, received_at, delivery_id, webhook_id, source, \
     organization_id AS app_id";

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub meeting_id: Option<String>,
    pub organization_id: Option<String>,
    /// The same column as `organization_id`, by the name the configuration gives it.
    pub app_id: Option<String>,
    pub reason: Option<String>,
    /// Inclusive: sessions that ended at or after this instant.
    pub ended_after: Option<DateTime<Utc>>,
    /// Exclusive: sessions that ended before this instant.
    pub ended_before: Option<DateTime<Utc>>,
    /// Sessions with (true) or without (false) an artifact of each kind.
    pub has_recording: Option<bool>,
    pub has_transcript: Option<bool>,
    pub has_summary: Option<bool>,
    pub has_chat: Option<bool>,
    /// Sessions whose meeting title contains every one of these words, whatever their case.
    pub title_words: Vec<String>,
}

pub struct Page {
    pub sessions: Vec<Session>,
    pub next_cursor: Option<Cursor>,
}

/// The one way a session is recorded: with its follow-up jobs in the same statement, or not at all (the
/// transactional outbox). Two CTEs: `new_session` (the session id, when this statement recorded it) and `new_jobs`.
/// The archive follow-up is only for a session with artifacts: announced before it, they set its flags (read by
/// `session_artifact_flags`, see its migration); announced after it, they queue its archive themselves
/// (`artifacts::announce`).
/// Parameters, bound by [`bind_session_with_jobs`]: the eleven session fields ($1 to $11), the delivery id ($12),
/// the webhook id ($13), the source ($14) and the follow-ups ($15, [`JobSpecs`], and $16, their attempts). A
/// statement that uses it numbers its own parameters from $17. (Group commit writes many sessions at once in
/// `deliveries::record_batch`.)
pub(crate) static NEW_SESSION_WITH_JOBS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{listeners}, {new_session}",
        listeners = job_specs::listeners("$15"),
        new_session = NEW_SESSION.replace(
            "{LISTENING}",
            &job_specs::listening(job_specs::AT_THE_END, "s.app_id", "s.duration_seconds")
        )
    )
});

const NEW_SESSION: &str = "
    new_session AS (
        INSERT INTO sessions (session_id, meeting_id, meeting_title, room_name, organization_id, organization_name,
                              reason, meeting_created_at, started_at, ended_at, duration_seconds, delivery_id,
                              webhook_id, source, has_recording, has_transcript, has_summary, has_chat)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, coalesce(a.has_recording, false),
               coalesce(a.has_transcript, false), coalesce(a.has_summary, false), coalesce(a.has_chat, false)
        FROM (SELECT 1) one LEFT JOIN session_artifact_flags(ARRAY[$1::text]) a ON true
        ON CONFLICT (session_id) DO NOTHING
        RETURNING session_id, organization_id AS app_id, duration_seconds,
                  has_recording OR has_transcript OR has_summary OR has_chat AS has_artifacts
    ), new_jobs AS (
        INSERT INTO followup_jobs (session_id, followup, kind, trigger, max_attempts)
        SELECT s.session_id, l.name, l.kind, l.trigger, $16
        FROM new_session s JOIN listeners l ON {LISTENING}
        WHERE l.kind <> 'archive' OR s.has_artifacts
    )";

/// Binds [`NEW_SESSION_WITH_JOBS`]'s parameters, $1 to $16.
pub(crate) fn bind_session_with_jobs<'q, O>(
    query: QueryScalar<'q, Postgres, O, PgArguments>,
    session: &'q EndedSession,
    delivery: Option<(&'q str, Option<&'q str>)>,
    jobs: &'q JobSpecs,
) -> QueryScalar<'q, Postgres, O, PgArguments> {
    let source = match delivery {
        Some(_) => SessionSource::Delivery,
        None => SessionSource::Reconciliation,
    };
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
        .bind(delivery.map(|(id, _)| id))
        .bind(delivery.and_then(|(_, webhook)| webhook))
        .bind(source.as_str())
        .bind(jobs.json())
        .bind(jobs.max_attempts)
}

/// Records a session that no delivery brought, with its jobs, and wakes the workers; false when it is already
/// recorded.
pub async fn record_reconciled(pool: &PgPool, session: &EndedSession, jobs: &JobSpecs) -> Result<bool, sqlx::Error> {
    let statement = format!("WITH {} SELECT session_id FROM new_session", *NEW_SESSION_WITH_JOBS);
    let inserted: Option<String> = bind_session_with_jobs(sqlx::query_scalar(&statement), session, None, jobs)
        .fetch_optional(pool)
        .await?;
    if inserted.is_some() {
        followup_jobs::wake_workers(pool).await;
    }
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
        ("organization_id", &filter.app_id),
        ("reason", &filter.reason),
    ] {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = ")).push_bind(value.as_str());
        }
    }
    // Each flag has a partial index in the listing order (see the `artifacts` migration): the literal `TRUE` form
    // is what lets the planner use it.
    for (column, wanted) in [
        ("has_recording", filter.has_recording),
        ("has_transcript", filter.has_transcript),
        ("has_summary", filter.has_summary),
        ("has_chat", filter.has_chat),
    ] {
        match wanted {
            Some(true) => query.push(format_args!(" AND {column}")),
            Some(false) => query.push(format_args!(" AND NOT {column}")),
            None => &mut query,
        };
    }
    if !filter.title_words.is_empty() {
        // The meetings whose title has every word, by the titles' trigram index (see the `meeting_titles`
        // migration); then each session's own title, as a meeting may have had others.
        query.push(" AND meeting_id IN (SELECT meeting_id FROM meeting_titles WHERE TRUE");
        for word in &filter.title_words {
            query.push(" AND title ILIKE ").push_bind(contains(word));
        }
        query.push(")");
        for word in &filter.title_words {
            query.push(" AND meeting_title ILIKE ").push_bind(contains(word));
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
            .push_bind(cursor.at())
            .push(", ")
            .push_bind(cursor.id())
            .push(")");
    }
    query
        .push(" ORDER BY ended_at DESC, session_id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    query
}

/// The `ILIKE` pattern of text containing `word`: its own `%`, `_` and `\\` match themselves.
pub(crate) fn contains(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
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
        sessions
            .last()
            .map(|s| Cursor::after(s.ended.ended_at, &s.ended.session_id))
    } else {
        None
    };
    Ok(Page { sessions, next_cursor })
}

/// The meeting titles of these sessions, for lists that show jobs or deliveries by session (one query a page).
pub async fn titles(pool: &PgPool, session_ids: &[&str]) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT session_id, meeting_title FROM sessions WHERE session_id = ANY($1)")
        .bind(session_ids)
        .fetch_all(pool)
        .await
}

/// What a list row says about a session besides its record: whether it has a recording, whether a file of it could
/// not be archived (failed or lost), and how many of its follow-ups are dead or failing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionTroubles {
    pub session_id: String,
    pub has_recording: bool,
    pub archive_failed: bool,
    pub followups_failing: i64,
}

/// [`SessionTroubles`] of a page of sessions, in one query (each a probe of the artifacts' and the jobs' session
/// indexes).
pub async fn troubles(pool: &PgPool, session_ids: &[&str]) -> Result<Vec<SessionTroubles>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.session_id, s.has_recording,
                EXISTS (SELECT 1 FROM artifacts a
                        WHERE a.session_id = s.session_id AND a.state IN ('failed', 'lost')) AS archive_failed,
                (SELECT count(*) FROM followup_jobs j
                 WHERE j.session_id = s.session_id
                   AND (j.status = 'dead' OR (j.status = 'queued' AND j.last_error IS NOT NULL))) AS followups_failing
         FROM sessions s WHERE s.session_id = ANY($1)",
    )
    .bind(session_ids)
    .fetch_all(pool)
    .await
}
