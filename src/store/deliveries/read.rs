//! Reading recorded deliveries: a page of them, one with its body, counts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::outcome::Outcome;
use crate::store::cursor::Cursor;

/// A recorded delivery, as operators list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliverySummary {
    /// The `rtk-uuid` header, or `sha256:<hex of the body>` when the delivery had none.
    pub delivery_id: String,
    /// The `rtk-webhook-id` header.
    pub webhook_id: Option<String>,
    pub event: Option<String>,
    pub outcome: Outcome,
    /// Why an `unprocessable` delivery could not be used.
    pub reason: Option<String>,
    pub session_id: Option<String>,
    /// The app the delivery carries (for a `foreign` one, the app that is not configured); none for a delivery
    /// recorded before apps were attributed.
    pub app_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// When an operator last replayed it.
    pub replayed_at: Option<DateTime<Utc>>,
    pub body_size_bytes: i64,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    delivery_id: String,
    webhook_id: Option<String>,
    event: Option<String>,
    status: String,
    error: Option<String>,
    session_id: Option<String>,
    app_id: Option<String>,
    received_at: DateTime<Utc>,
    replayed_at: Option<DateTime<Utc>>,
    body_size_bytes: i64,
}

impl TryFrom<SummaryRow> for DeliverySummary {
    type Error = sqlx::Error;

    fn try_from(row: SummaryRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            outcome: Outcome::from_column(&row.status)?,
            delivery_id: row.delivery_id,
            webhook_id: row.webhook_id,
            event: row.event,
            reason: row.error,
            session_id: row.session_id,
            app_id: row.app_id,
            received_at: row.received_at,
            replayed_at: row.replayed_at,
            body_size_bytes: row.body_size_bytes,
        })
    }
}

const SUMMARY_COLUMNS: &str = "delivery_id, webhook_id, event, status, error, session_id, app_id, received_at, replayed_at, \
     coalesce(octet_length(raw_body), octet_length(payload::text))::int8 AS body_size_bytes";

/// A delivery with its body: the exact bytes, as every delivery is now kept, or for a delivery recorded by an older
/// version, the JSON text of its `jsonb` (Postgres normalised whitespace and key order).
pub struct StoredDelivery {
    pub summary: DeliverySummary,
    pub body: StoredBody,
}

pub enum StoredBody {
    Json(String),
    Bytes(Vec<u8>),
}

impl StoredBody {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Json(text) => text.as_bytes(),
            Self::Bytes(bytes) => bytes,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub outcome: Option<Outcome>,
    pub session_id: Option<String>,
    /// Inclusive.
    pub received_after: Option<DateTime<Utc>>,
    /// Exclusive.
    pub received_before: Option<DateTime<Utc>>,
}

pub struct DeliveryPage {
    pub deliveries: Vec<DeliverySummary>,
    pub next_cursor: Option<Cursor>,
}

/// A page of deliveries, newest received first, with keyset pagination on `(received_at, delivery_id)`.
pub async fn list(
    pool: &PgPool,
    filter: &DeliveryFilter,
    cursor: Option<&Cursor>,
    limit: u16,
) -> Result<DeliveryPage, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE TRUE"));
    if let Some(outcome) = filter.outcome {
        query.push(" AND status = ").push_bind(outcome.as_str());
    }
    if let Some(session_id) = &filter.session_id {
        // The delivery that stored the session, its duplicates, and its start, livestream and artifact events: three
        // index lookups (see the migrations; the event list is the `deliveries_session_events_idx` predicate).
        // Participant events are not indexed by session (they are most of the volume).
        query
            .push(" AND session_id = ")
            .push_bind(session_id.as_str())
            .push(" AND (status = 'duplicate' OR delivery_id = (SELECT s.delivery_id FROM sessions s WHERE s.session_id = ")
            .push_bind(session_id.as_str())
            .push(
                ") OR event IN ('meeting.started', 'livestreaming.statusUpdate', 'recording.statusUpdate', \
                 'meeting.transcript', 'meeting.summary', 'meeting.chatSynced'))",
            );
    }
    if let Some(after) = filter.received_after {
        query.push(" AND received_at >= ").push_bind(after);
    }
    if let Some(before) = filter.received_before {
        query.push(" AND received_at < ").push_bind(before);
    }
    if let Some(cursor) = cursor {
        query
            .push(" AND (received_at, delivery_id) < (")
            .push_bind(cursor.at())
            .push(", ")
            .push_bind(cursor.id())
            .push(")");
    }
    query
        .push(" ORDER BY received_at DESC, delivery_id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let rows: Vec<SummaryRow> = query.build_query_as().fetch_all(pool).await?;
    let mut deliveries = rows
        .into_iter()
        .map(DeliverySummary::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if deliveries.len() > usize::from(limit) {
        deliveries.truncate(usize::from(limit));
        deliveries.last().map(|d| Cursor::after(d.received_at, &d.delivery_id))
    } else {
        None
    };
    Ok(DeliveryPage {
        deliveries,
        next_cursor,
    })
}

/// Deliveries received since `since`, by hour and outcome (hours and outcomes with none left out): the overview's
/// counts and its chart, from one range scan of the newest deliveries.
pub async fn hourly_counts_since(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Outcome, i64)>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(
        "SELECT date_trunc('hour', received_at), status, count(*) FROM deliveries WHERE received_at >= $1
         GROUP BY 1, 2",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(hour, status, count)| Ok((hour, Outcome::from_column(&status)?, count)))
        .collect()
}

/// The apps of the foreign deliveries received since `since`, most deliveries first (at most 10; no app id for a
/// delivery that names none, or several), with how many came: what an operator who forgot to configure an app sees.
pub async fn foreign_apps_since(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT app_id, count(*) FROM deliveries WHERE status = 'foreign' AND received_at >= $1
         GROUP BY app_id ORDER BY count(*) DESC, app_id LIMIT 10",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}

/// The id a delivery is kept under: its own, or, for the same bytes sent again under a fresh `rtk-uuid` (kept once),
/// the earlier delivery's. `None` once retention removed it.
pub async fn kept_as(pool: &PgPool, delivery_id: &str, body_sha256: &[u8]) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "(SELECT delivery_id FROM deliveries WHERE delivery_id = $1)
         UNION ALL (SELECT delivery_id FROM deliveries WHERE body_sha256 = $2) LIMIT 1",
    )
    .bind(delivery_id)
    .bind(body_sha256)
    .fetch_optional(pool)
    .await
}

pub async fn get(pool: &PgPool, delivery_id: &str) -> Result<Option<StoredDelivery>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        summary: SummaryRow,
        payload_text: Option<String>,
        raw_body: Option<Vec<u8>>,
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS}, payload::text AS payload_text, raw_body FROM deliveries WHERE delivery_id = $1"
    ))
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let body = match (row.raw_body, row.payload_text) {
        (Some(bytes), _) => StoredBody::Bytes(bytes),
        (None, text) => StoredBody::Json(text.unwrap_or_default()),
    };
    Ok(Some(StoredDelivery {
        summary: row.summary.try_into()?,
        body,
    }))
}

/// When the last delivery of `app_id` (any app's when `None`) was received, looking back `within` at most: the
/// newest-first index is walked back only that far.
pub async fn last_received(
    pool: &PgPool,
    app_id: Option<&str>,
    within: std::time::Duration,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT received_at FROM deliveries
         WHERE received_at > now() - make_interval(secs => $2) AND ($1::text IS NULL OR app_id = $1)
         ORDER BY received_at DESC, delivery_id DESC LIMIT 1",
    )
    .bind(app_id)
    .bind(within.as_secs_f64())
    .fetch_optional(pool)
    .await
}
