//! Recording a verified delivery. Each delivery is one statement, and so one transaction, committed before the
//! answer: the delivery row, and for a new `meeting.ended` the session row, are written together or not at all.

use serde::Serialize;
use sqlx::PgPool;

use crate::domain::{Classified, DeliveryId, DeliveryPayload, EndedSession, WebhookId};
use crate::store::followup_jobs::JobSpecs;

/// What became of a delivery; each is answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
pub struct VerifiedDelivery<'a> {
    pub delivery_id: &'a DeliveryId,
    pub webhook_id: Option<&'a WebhookId>,
    pub payload: DeliveryPayload<'a>,
    pub classified: &'a Classified,
    /// The follow-up jobs a newly recorded session gets.
    pub jobs: &'a JobSpecs,
}

pub async fn record(pool: &PgPool, delivery: &VerifiedDelivery<'_>) -> Result<Outcome, sqlx::Error> {
    match delivery.classified {
        Classified::EndedSession(session) => record_ended_session(pool, delivery, session).await,
        Classified::Ignored { event } => record_other(pool, delivery, Some(event), Outcome::Ignored, None).await,
        Classified::Unprocessable { event, reason } => {
            record_other(pool, delivery, event.as_deref(), Outcome::Unprocessable, Some(reason)).await
        }
    }
}

/// The session is inserted only when the delivery id is new; the delivery row then says whether it brought the
/// session (`stored`) or found it already recorded (`duplicate`). Racing duplicates serialise on the two unique
/// keys, so exactly one of them stores the session. No row back means the delivery id was already known.
async fn record_ended_session(
    pool: &PgPool,
    delivery: &VerifiedDelivery<'_>,
    session: &EndedSession,
) -> Result<Outcome, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar(
        r#"
        WITH new_session AS (
            INSERT INTO sessions (session_id, meeting_id, meeting_title, room_name, organization_id,
                                  organization_name, reason, meeting_created_at, started_at, ended_at,
                                  duration_seconds, delivery_id, webhook_id)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13
            WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE delivery_id = $12)
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
    )
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
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.map(WebhookId::as_str))
    .bind(delivery.payload.json())
    .bind(delivery.payload.raw())
    .bind(&delivery.jobs.names)
    .bind(&delivery.jobs.kinds)
    .bind(delivery.jobs.max_attempts)
    .fetch_optional(pool)
    .await?;
    Ok(status.map_or(Outcome::Duplicate, |status| Outcome::from_status(&status)))
}

async fn record_other(
    pool: &PgPool,
    delivery: &VerifiedDelivery<'_>,
    event: Option<&str>,
    outcome: Outcome,
    error: Option<&str>,
) -> Result<Outcome, sqlx::Error> {
    let inserted = sqlx::query(
        r#"
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, error, payload, raw_body)
        VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)
        ON CONFLICT (delivery_id) DO NOTHING
        "#,
    )
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.map(WebhookId::as_str))
    .bind(event)
    .bind(outcome.as_str())
    .bind(error)
    .bind(delivery.payload.json())
    .bind(delivery.payload.raw())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(if inserted == 1 { outcome } else { Outcome::Duplicate })
}
