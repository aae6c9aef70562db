//! The files a meeting's settings promise after each session, cached from the API (`GET /meetings/{id}`) so that
//! every `session.completed` check of its sessions does not ask again. An entry is used while younger than the age
//! the caller accepts; a fresh answer replaces it.

use std::time::Duration;

use sqlx::PgPool;

use crate::domain::artifact::ArtifactKind;

/// What the meeting promises: each kind of file its sessions will have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct Promises {
    pub recording: bool,
    pub transcript: bool,
    pub summary: bool,
    pub chat: bool,
}

impl Promises {
    /// The kinds promised.
    pub fn kinds(&self) -> Vec<ArtifactKind> {
        [
            (self.recording, ArtifactKind::Recording),
            (self.transcript, ArtifactKind::Transcript),
            (self.summary, ArtifactKind::Summary),
            (self.chat, ArtifactKind::Chat),
        ]
        .into_iter()
        .filter_map(|(promised, kind)| promised.then_some(kind))
        .collect()
    }
}

/// The cached promises of the meeting, when read less than `max_age` ago.
pub async fn get(pool: &PgPool, meeting_id: &str, max_age: Duration) -> Result<Option<Promises>, sqlx::Error> {
    sqlx::query_as(
        "SELECT recording, transcript, summary, chat FROM meeting_promises
         WHERE meeting_id = $1 AND read_at > now() - make_interval(secs => $2)",
    )
    .bind(meeting_id)
    .bind(max_age.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Removes the entries read longer ago than `age` (retention: the table holds the meetings of about a day).
pub async fn forget_older_than(pool: &PgPool, age: Duration) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM meeting_promises WHERE read_at < now() - make_interval(secs => $1)")
        .bind(age.as_secs_f64())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}

pub async fn put(pool: &PgPool, meeting_id: &str, promises: Promises) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO meeting_promises (meeting_id, recording, transcript, summary, chat) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (meeting_id) DO UPDATE SET recording = $2, transcript = $3, summary = $4, chat = $5,
                                               read_at = now()",
    )
    .bind(meeting_id)
    .bind(promises.recording)
    .bind(promises.transcript)
    .bind(promises.summary)
    .bind(promises.chat)
    .execute(pool)
    .await
    .map(drop)
}
