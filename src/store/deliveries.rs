//! Recording verified deliveries: one at a time, or many in one statement (group commit). Either way a delivery is
//! committed before its answer, and its rows (the delivery; for a new `meeting.ended` the session and its
//! follow-up jobs) are written together or not at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::domain::{Classified, DeliveryBody, DeliveryId, EndedSession, WebhookId};
use crate::store::followup_jobs::JobSpecs;
use crate::store::sessions;

/// What became of a delivery; each is answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new session was recorded.
    Stored,
    /// Already known: a retry of a delivery we have, or a new delivery for a session already recorded.
    Duplicate,
    /// A well-formed event of another type, kept.
    Ignored,
    /// Verified but unusable, kept byte for byte.
    Unprocessable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Unprocessable => "unprocessable",
        }
    }

    fn from_status(status: &str) -> Self {
        match status {
            "stored" => Self::Stored,
            "ignored" => Self::Ignored,
            "unprocessable" => Self::Unprocessable,
            _ => Self::Duplicate,
        }
    }
}

/// A verified delivery, ready to be recorded.
#[derive(Debug, Clone)]
pub struct VerifiedDelivery {
    pub delivery_id: DeliveryId,
    pub webhook_id: Option<WebhookId>,
    pub body: DeliveryBody,
    pub classified: Classified,
}

impl VerifiedDelivery {
    fn session(&self) -> Option<&EndedSession> {
        match &self.classified {
            Classified::EndedSession(session) => Some(session),
            _ => None,
        }
    }

    /// `session`, `ignored` or `unprocessable`: the batch statement's name for what the delivery is.
    fn kind(&self) -> &'static str {
        match &self.classified {
            Classified::EndedSession(_) => "session",
            Classified::Ignored { .. } => Outcome::Ignored.as_str(),
            Classified::Unprocessable { .. } => Outcome::Unprocessable.as_str(),
        }
    }

    fn event(&self) -> Option<&str> {
        match &self.classified {
            Classified::EndedSession(_) => Some(crate::domain::ended_session::MEETING_ENDED),
            Classified::Ignored { event } => Some(event),
            Classified::Unprocessable { event, .. } => event.as_deref(),
        }
    }

    fn error(&self) -> Option<&str> {
        match &self.classified {
            Classified::Unprocessable { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Records one delivery in its own transaction.
pub async fn record(pool: &PgPool, delivery: &VerifiedDelivery, jobs: &JobSpecs) -> Result<Outcome, sqlx::Error> {
    match delivery.session() {
        Some(session) => record_ended_session(pool, delivery, session, jobs).await,
        None => record_other(pool, delivery).await,
    }
}

/// The session is inserted unless it is already recorded, and the delivery row says whether this delivery brought
/// it (`stored`) or found it there (`duplicate`). A retry of a known delivery id finds its session already recorded
/// (its first delivery recorded it), and its delivery row already there: no row comes back, which means a
/// duplicate. Racing duplicates serialise on the two unique keys, so exactly one of them stores the session.
async fn record_ended_session(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    session: &EndedSession,
    jobs: &JobSpecs,
) -> Result<Outcome, sqlx::Error> {
    let query = sqlx::query_scalar(
        r#"
        WITH new_session AS (
            INSERT INTO sessions (session_id, meeting_id, meeting_title, room_name, organization_id,
                                  organization_name, reason, meeting_created_at, started_at, ended_at,
                                  duration_seconds, delivery_id, webhook_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (session_id) DO NOTHING
            RETURNING session_id
        ), new_jobs AS (
            -- The transactional outbox: a session is committed with its follow-up jobs, or not at all.
            INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
            SELECT new_session.session_id, f.name, f.kind, $18
            FROM new_session, unnest($16::text[], $17::text[]) AS f(name, kind)
        )
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, payload, raw_body)
        VALUES ($12, $13, 'meeting.ended',
                CASE WHEN EXISTS (SELECT 1 FROM new_session) THEN 'stored' ELSE 'duplicate' END,
                $1, $14::text::jsonb, $15)
        ON CONFLICT (delivery_id) DO NOTHING
        RETURNING status
        "#,
    );
    let status: Option<String> = sessions::bind_session_fields(query, session)
        .bind(delivery.delivery_id.as_str())
        .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
        .bind(delivery.body.json())
        .bind(delivery.body.raw())
        .bind(&jobs.names)
        .bind(&jobs.kinds)
        .bind(jobs.max_attempts)
        .fetch_optional(pool)
        .await?;
    Ok(status.map_or(Outcome::Duplicate, |status| Outcome::from_status(&status)))
}

async fn record_other(pool: &PgPool, delivery: &VerifiedDelivery) -> Result<Outcome, sqlx::Error> {
    let inserted = sqlx::query(
        r#"
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, error, payload, raw_body)
        VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)
        ON CONFLICT (delivery_id) DO NOTHING
        "#,
    )
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
    .bind(delivery.event())
    .bind(delivery.kind())
    .bind(delivery.error())
    .bind(delivery.body.json())
    .bind(delivery.body.raw())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(if inserted == 1 {
        Outcome::from_status(delivery.kind())
    } else {
        Outcome::Duplicate
    })
}

/// Records many deliveries in one statement, and so one transaction (group commit), with the same outcome for
/// each as [`record`] would give it on its own. Within the batch, the first of several deliveries with one
/// `delivery_id` is the one recorded (the others are retries: `duplicate`), and the first delivery of a session
/// stores it (the others are `duplicate`). Rows are written in key order, so concurrent batches of several
/// replicas take their locks in the same order and do not deadlock.
pub async fn record_batch(
    pool: &PgPool,
    deliveries: &[VerifiedDelivery],
    jobs: &JobSpecs,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let column = |f: &dyn Fn(&VerifiedDelivery) -> Option<&str>| deliveries.iter().map(f).collect::<Vec<_>>();
    let session_column = |f: &dyn Fn(&EndedSession) -> Option<&str>| {
        deliveries.iter().map(|d| d.session().and_then(f)).collect::<Vec<_>>()
    };
    let session_time = |f: &dyn Fn(&EndedSession) -> Option<DateTime<Utc>>| {
        deliveries.iter().map(|d| d.session().and_then(f)).collect::<Vec<_>>()
    };
    let raw_bodies: Vec<Option<&[u8]>> = deliveries.iter().map(|d| d.body.raw()).collect();
    let durations: Vec<Option<i64>> = deliveries
        .iter()
        .map(|d| d.session().and_then(|s| s.duration_seconds))
        .collect();

    let rows: Vec<(String, String)> = sqlx::query_as(
        r#"
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
                                 $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                                 $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::int8[])
                WITH ORDINALITY AS i(delivery_id, webhook_id, event, kind, error, payload, raw_body,
                                     session_id, meeting_id, meeting_title, room_name, organization_id,
                                     organization_name, reason, meeting_created_at, started_at, ended_at,
                                     duration_seconds, ord)
        ), fresh AS (
            -- The first of each delivery id. One recorded before finds its session recorded and its row there.
            SELECT DISTINCT ON (delivery_id) * FROM input
            ORDER BY delivery_id, ord
        ), new_sessions AS (
            -- The first delivery of each session stores it, unless it was recorded before.
            INSERT INTO sessions (session_id, meeting_id, meeting_title, room_name, organization_id,
                                  organization_name, reason, meeting_created_at, started_at, ended_at,
                                  duration_seconds, delivery_id, webhook_id)
            SELECT DISTINCT ON (session_id) session_id, meeting_id, meeting_title, room_name, organization_id,
                   organization_name, reason, meeting_created_at, started_at, ended_at, duration_seconds,
                   delivery_id, webhook_id
            FROM fresh WHERE kind = 'session'
            ORDER BY session_id, ord
            ON CONFLICT (session_id) DO NOTHING
            RETURNING session_id, delivery_id
        ), new_jobs AS (
            INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
            SELECT s.session_id, f.name, f.kind, $21
            FROM new_sessions s, unnest($19::text[], $20::text[]) AS f(name, kind)
        )
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, error, payload, raw_body)
        SELECT f.delivery_id, f.webhook_id, f.event,
               CASE WHEN f.kind <> 'session' THEN f.kind
                    WHEN s.delivery_id IS NOT NULL THEN 'stored'
                    ELSE 'duplicate' END,
               f.session_id, f.error, f.payload::jsonb, f.raw_body
        FROM fresh f LEFT JOIN new_sessions s ON s.delivery_id = f.delivery_id
        ORDER BY f.delivery_id
        ON CONFLICT (delivery_id) DO NOTHING
        RETURNING delivery_id, status
        "#,
    )
    .bind(column(&|d| Some(d.delivery_id.as_str())))
    .bind(column(&|d| d.webhook_id.as_ref().map(WebhookId::as_str)))
    .bind(column(&|d| d.event()))
    .bind(column(&|d| Some(d.kind())))
    .bind(column(&|d| d.error()))
    .bind(column(&|d| d.body.json()))
    .bind(raw_bodies)
    .bind(session_column(&|s| Some(&s.session_id)))
    .bind(session_column(&|s| Some(&s.meeting_id)))
    .bind(session_column(&|s| s.meeting_title.as_deref()))
    .bind(session_column(&|s| s.room_name.as_deref()))
    .bind(session_column(&|s| s.organization_id.as_deref()))
    .bind(session_column(&|s| s.organization_name.as_deref()))
    .bind(session_column(&|s| s.reason.as_deref()))
    .bind(session_time(&|s| s.meeting_created_at))
    .bind(session_time(&|s| s.started_at))
    .bind(session_time(&|s| Some(s.ended_at)))
    .bind(durations)
    .bind(&jobs.names)
    .bind(&jobs.kinds)
    .bind(jobs.max_attempts)
    .fetch_all(pool)
    .await?;

    // Each recorded delivery id answers its first request; every other request is a duplicate.
    let mut recorded: HashMap<&str, Outcome> = rows
        .iter()
        .map(|(id, status)| (id.as_str(), Outcome::from_status(status)))
        .collect();
    Ok(deliveries
        .iter()
        .map(|d| recorded.remove(d.delivery_id.as_str()).unwrap_or(Outcome::Duplicate))
        .collect())
}
