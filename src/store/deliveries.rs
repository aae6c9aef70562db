//! Recording verified deliveries: one at a time, or many in one statement (group commit). Either way a delivery is
//! committed before its answer, and its rows (the delivery; for a new `meeting.ended` the session and its
//! follow-up jobs) are written together or not at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::artifact::Announcement;
use crate::domain::livestream::{LIVESTREAMING_STATUS_UPDATE, LivestreamUpdate};
use crate::domain::names::UnknownValue;
use crate::domain::participant::ParticipantUpdate;
use crate::domain::{Apps, Classified, DeliveryBody, DeliveryId, EndedSession, Reading, WebhookId, read_delivery};
use crate::store::cursor::Cursor;
use crate::store::followup_jobs::JobSpecs;
use crate::store::sessions::{NEW_SESSION_WITH_JOBS, bind_session_with_jobs};
use crate::store::{artifact_checks, artifacts};

/// What became of a delivery; each is answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new session was recorded, or news of an artifact (a new one, a later recording status, a fresh URL).
    Stored,
    /// Already known: a retry of a delivery we have, a new delivery for a session already recorded, or an artifact
    /// event that says nothing new (a repeat, or a recording status older than the one recorded).
    Duplicate,
    /// A well-formed event of another type, kept.
    Ignored,
    /// Verified but unusable, kept byte for byte.
    Unprocessable,
    /// Signed by RealtimeKit for an app that is not configured: kept (within `ingest.foreign_deliveries_kept`), and
    /// nothing is done for it until the app is added and the delivery replayed.
    Foreign,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Unprocessable => "unprocessable",
            Self::Foreign => "foreign",
        }
    }

    pub const ALL: [Self; 5] = [
        Self::Stored,
        Self::Duplicate,
        Self::Ignored,
        Self::Unprocessable,
        Self::Foreign,
    ];

    /// The outcome a `status` column holds; an unknown value is an error, never a guess.
    pub fn parse(status: &str) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "delivery outcome", status.to_owned())
    }

    fn from_column(status: &str) -> Result<Self, sqlx::Error> {
        Self::parse(status).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

/// A verified delivery, ready to be recorded.
#[derive(Debug, Clone)]
pub struct VerifiedDelivery {
    pub delivery_id: DeliveryId,
    pub webhook_id: Option<WebhookId>,
    /// The app it carries (see `domain::apps`).
    pub app_id: Option<String>,
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

    fn participant(&self) -> Option<&ParticipantUpdate> {
        match &self.classified {
            Classified::Participant { update, .. } => Some(update),
            _ => None,
        }
    }

    /// `session`, `artifact`, `ignored`, `unprocessable` or `foreign`: the batch statement's name for what the
    /// delivery is. (Artifact announcements and foreign deliveries are not batched: see `Ingest::record`.)
    fn kind(&self) -> &'static str {
        match &self.classified {
            Classified::EndedSession(_) => "session",
            Classified::Artifact(_) => "artifact",
            Classified::Livestream(_) => "livestream",
            Classified::Participant { .. } => "participant",
            Classified::Ignored { .. } => Outcome::Ignored.as_str(),
            Classified::Unprocessable { .. } => Outcome::Unprocessable.as_str(),
            Classified::Foreign { .. } => Outcome::Foreign.as_str(),
        }
    }

    /// Recorded apart from group commit: an artifact announcement takes its session's lock, a livestream update
    /// writes a row of its own, and a foreign delivery is counted against its bound.
    pub fn is_recorded_alone(&self) -> bool {
        matches!(
            self.classified,
            Classified::Artifact(_) | Classified::Livestream(_) | Classified::Foreign { .. }
        )
    }

    fn event(&self) -> Option<&str> {
        self.classified.event()
    }

    fn error(&self) -> Option<&str> {
        self.classified.reason()
    }

    fn body_sha256(&self) -> &[u8] {
        self.body.sha256()
    }

    /// The same delivery as `unprocessable`, for when the database refused what it says (a value a constraint
    /// refuses, say): its exact bytes are kept with the database's reason, and a replay can try again after a fix.
    pub fn refused_by_database(self, reason: String) -> Self {
        let event = self.event().map(str::to_owned);
        Self {
            classified: Classified::Unprocessable { event, reason },
            ..self
        }
    }
}

/// Records one delivery in its own transaction. At most `foreign_kept` foreign deliveries are kept.
pub async fn record(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    jobs: &JobSpecs,
    foreign_kept: u32,
) -> Result<Outcome, sqlx::Error> {
    match &delivery.classified {
        Classified::EndedSession(session) => record_ended_session(pool, delivery, session, jobs).await,
        Classified::Artifact(announcement) => record_announcement(pool, delivery, announcement, jobs).await,
        Classified::Livestream(update) => record_livestream(pool, delivery, update).await,
        // The batch statement is the one way participant events are recorded, one or many at a time.
        Classified::Participant { .. } => {
            let outcomes = record_batch(pool, std::slice::from_ref(delivery), jobs).await?;
            Ok(outcomes.first().copied().unwrap_or(Outcome::Duplicate))
        }
        Classified::Ignored { .. } | Classified::Unprocessable { .. } => record_other(pool, delivery).await,
        Classified::Foreign { .. } => record_foreign(pool, delivery, foreign_kept).await,
    }
}

/// A foreign delivery is kept while fewer than `kept_max` are (so a stranger's app cannot fill the database
/// through us); past that, it is answered and counted but not kept. Retention removes foreign rows after
/// `retention.foreign_days`, which makes room again. The count reads the partial index, at most `kept_max` entries.
async fn record_foreign(pool: &PgPool, delivery: &VerifiedDelivery, kept_max: u32) -> Result<Outcome, sqlx::Error> {
    let (has_room, inserted): (bool, bool) = sqlx::query_as(
        r#"
        WITH room AS (
            SELECT count(*) < $8 AS has_room
            FROM (SELECT 1 FROM deliveries WHERE status = 'foreign' LIMIT $8) AS kept
        ), inserted AS (
            INSERT INTO deliveries (delivery_id, webhook_id, event, status, error, raw_body, body_sha256, app_id)
            SELECT $1, $2, $3, 'foreign', $4, $5, $6, $7 FROM room WHERE has_room
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT has_room FROM room), EXISTS (SELECT 1 FROM inserted)
        "#,
    )
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
    .bind(delivery.event())
    .bind(delivery.error())
    .bind(delivery.body.bytes())
    .bind(delivery.body_sha256())
    .bind(delivery.app_id.as_deref())
    .bind(i64::from(kept_max))
    .fetch_one(pool)
    .await?;
    match (has_room, inserted) {
        (true, false) => Ok(Outcome::Duplicate),
        (true, true) => Ok(Outcome::Foreign),
        (false, _) => {
            tracing::warn!(
                delivery_id = delivery.delivery_id.as_str(),
                app_id = delivery.app_id.as_deref(),
                kept_max,
                "a foreign delivery was not kept: ingest.foreign_deliveries_kept are kept already"
            );
            Ok(Outcome::Foreign)
        }
    }
}

/// The announcement is applied (see `artifacts::announce`) and the delivery row says whether it told us something
/// new (`stored`) or nothing (`duplicate`: a retry, a repeat, or a recording status older than the one we have).
async fn record_announcement(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    announcement: &Announcement,
    jobs: &JobSpecs,
) -> Result<Outcome, sqlx::Error> {
    let attributed;
    let announcement = if announcement.needs_session() {
        match artifact_checks::known_recording_session(pool, &announcement.artifact_id).await? {
            Some(session_id) => {
                attributed = Announcement {
                    session_id,
                    ..announcement.clone()
                };
                &attributed
            }
            None => return record_unattributed(pool, delivery, announcement).await,
        }
    } else {
        announcement
    };
    artifacts::announce(pool, announcement, jobs, async |transaction, changed| {
        let status = if changed { Outcome::Stored } else { Outcome::Duplicate };
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, raw_body, body_sha256,
                                     app_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING
             RETURNING status",
        )
        .bind(delivery.delivery_id.as_str())
        .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
        .bind(delivery.event())
        .bind(status.as_str())
        .bind(&announcement.session_id)
        .bind(delivery.body.bytes())
        .bind(delivery.body_sha256())
        .bind(delivery.app_id.as_deref())
        .fetch_optional(transaction)
        .await?;
        inserted.map_or(Ok(Outcome::Duplicate), |status| Outcome::from_column(&status))
    })
    .await
}

/// A livestream update: the delivery and, when it is not a retry, the update's row (see `livestreams`), together.
async fn record_livestream(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    update: &LivestreamUpdate,
) -> Result<Outcome, sqlx::Error> {
    let inserted: bool = sqlx::query_scalar(
        "WITH delivery AS (
             INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, raw_body, body_sha256, app_id)
             VALUES ($1, $2, $3, 'stored', $4, $5, $6, $7)
             ON CONFLICT DO NOTHING
             RETURNING delivery_id
         ), livestream AS (
             INSERT INTO livestream_updates (delivery_id, session_id, stream_id, status, playback_url)
             SELECT delivery_id, $4, $8, $9, $10 FROM delivery
             ON CONFLICT DO NOTHING
         )
         SELECT EXISTS (SELECT 1 FROM delivery)",
    )
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
    .bind(delivery.event())
    .bind(&update.session_id)
    .bind(delivery.body.bytes())
    .bind(delivery.body_sha256())
    .bind(delivery.app_id.as_deref())
    .bind(&update.stream_id)
    .bind(&update.status)
    .bind(&update.playback_url)
    .fetch_one(pool)
    .await?;
    Ok(if inserted { Outcome::Stored } else { Outcome::Duplicate })
}

/// A recording event that names no session, of a recording not known here: kept as `stored` without a session,
/// and queued for the reconciliation sweep to ask `GET /recordings/{id}` which session it is (see
/// `reconcile::attribute_recordings`). A retry of it is a duplicate.
async fn record_unattributed(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    announcement: &Announcement,
) -> Result<Outcome, sqlx::Error> {
    let inserted: bool = sqlx::query_scalar(
        "WITH delivery AS (
             INSERT INTO deliveries (delivery_id, webhook_id, event, status, raw_body, body_sha256, app_id)
             VALUES ($1, $2, $3, 'stored', $4, $5, $6)
             ON CONFLICT DO NOTHING
             RETURNING delivery_id
         ), waiting AS (
             INSERT INTO unattributed_recordings (delivery_id, recording_id, app_id)
             SELECT delivery_id, $7, $6 FROM delivery
             ON CONFLICT DO NOTHING
         )
         SELECT EXISTS (SELECT 1 FROM delivery)",
    )
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
    .bind(delivery.event())
    .bind(delivery.body.bytes())
    .bind(delivery.body_sha256())
    .bind(delivery.app_id.as_deref())
    .bind(&announcement.artifact_id)
    .fetch_one(pool)
    .await?;
    Ok(if inserted { Outcome::Stored } else { Outcome::Duplicate })
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
    let statement = format!(
        "WITH {NEW_SESSION_WITH_JOBS}
         INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, raw_body, body_sha256, app_id)
         VALUES ($12, $13, 'meeting.ended',
                 CASE WHEN EXISTS (SELECT 1 FROM new_session) THEN 'stored' ELSE 'duplicate' END,
                 $1, $18, $19, $20)
         ON CONFLICT DO NOTHING
         RETURNING status"
    );
    let webhook_id = delivery.webhook_id.as_ref().map(WebhookId::as_str);
    let query = sqlx::query_scalar(&statement);
    let status: Option<String> =
        bind_session_with_jobs(query, session, Some((delivery.delivery_id.as_str(), webhook_id)), jobs)
            .bind(delivery.body.bytes())
            .bind(delivery.body_sha256())
            .bind(delivery.app_id.as_deref())
            .fetch_optional(pool)
            .await?;
    status.map_or(Ok(Outcome::Duplicate), |status| Outcome::from_column(&status))
}

async fn record_other(pool: &PgPool, delivery: &VerifiedDelivery) -> Result<Outcome, sqlx::Error> {
    let inserted = sqlx::query(
        r#"
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, error, raw_body, body_sha256, app_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT DO NOTHING
        "#,
    )
    .bind(delivery.delivery_id.as_str())
    .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
    .bind(delivery.event())
    .bind(delivery.kind())
    .bind(delivery.error())
    .bind(delivery.body.bytes())
    .bind(delivery.body_sha256())
    .bind(delivery.app_id.as_deref())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(if inserted == 1 {
        Outcome::from_column(delivery.kind())?
    } else {
        Outcome::Duplicate
    })
}

/// The group-commit statement (see [`record_batch`]): `{PARTICIPANT_ARRAYS}`, `{PARTICIPANT_COLUMNS}` and
/// `{ATTENDED}` are filled for a batch with participant events, and left out of one without (most of them), which
/// then neither binds nor plans what it does not use.
const BATCH_TEMPLATE: &str = r#"
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[],
                                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                                 $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::int8[],
                                 $21::bytea[], $22::text[]{PARTICIPANT_ARRAYS})
                WITH ORDINALITY AS i(delivery_id, webhook_id, event, kind, error, raw_body,
                                     session_id, meeting_id, meeting_title, room_name, organization_id,
                                     organization_name, reason, meeting_created_at, started_at, ended_at,
                                     duration_seconds, body_sha256, app_id{PARTICIPANT_COLUMNS}, ord)
        ), first_of_id AS (
            -- The first of each delivery id. One recorded before finds its session recorded and its row there.
            SELECT DISTINCT ON (delivery_id) * FROM input
            ORDER BY delivery_id, ord
        ), fresh AS (
            -- And the first of each body: the same bytes under another rtk-uuid are a duplicate.
            SELECT DISTINCT ON (body_sha256) * FROM first_of_id
            ORDER BY body_sha256, ord
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
            RETURNING session_id, delivery_id, has_recording OR has_transcript OR has_summary OR has_chat AS has_artifacts
        ), new_jobs AS (
            -- As in sessions::NEW_SESSION_WITH_JOBS: the archive follow-up only for a session with artifacts.
            INSERT INTO followup_jobs (session_id, followup, kind, max_attempts)
            SELECT s.session_id, f.name, f.kind, $20
            FROM new_sessions s, unnest($18::text[], $19::text[]) AS f(name, kind)
            WHERE f.kind <> 'archive' OR s.has_artifacts
{ATTENDED}        )
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, error, raw_body, body_sha256,
                                app_id)
        SELECT f.delivery_id, f.webhook_id, f.event,
               CASE WHEN f.kind = 'participant' THEN 'stored'
                    WHEN f.kind <> 'session' THEN f.kind
                    WHEN s.delivery_id IS NOT NULL THEN 'stored'
                    ELSE 'duplicate' END,
               f.session_id, f.error, f.raw_body, f.body_sha256, f.app_id
        FROM fresh f LEFT JOIN new_sessions s ON s.delivery_id = f.delivery_id
        ORDER BY f.delivery_id
        ON CONFLICT DO NOTHING
        RETURNING delivery_id, status
        "#;

/// The attendance CTE: each peer once (a join and a leave in one batch merged first), merged with what is recorded.
const ATTENDED: &str = "        ), attended AS (
            -- The earliest join, the latest leave, names once known: a retry merges the same values again.
            INSERT INTO attendance AS a (session_id, peer_id, display_name, custom_participant_id, joined_at,
                                         left_at)
            SELECT session_id, peer_id, max(display_name), max(custom_participant_id), min(joined_at), max(left_at)
            FROM fresh WHERE kind = 'participant'
            GROUP BY session_id, peer_id
            ORDER BY session_id, peer_id
            {MERGE_ATTENDANCE}
";

/// How a peer's events merge into its attendance entry, whatever their order: the earliest join, the latest leave,
/// names once known (`greatest`, so that the order does not choose). Applying an event again changes nothing.
const MERGE_ATTENDANCE: &str = "ON CONFLICT (session_id, peer_id) DO UPDATE SET
                display_name = greatest(a.display_name, EXCLUDED.display_name),
                custom_participant_id = greatest(a.custom_participant_id, EXCLUDED.custom_participant_id),
                joined_at = least(a.joined_at, EXCLUDED.joined_at),
                left_at = greatest(a.left_at, EXCLUDED.left_at)";

static BATCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    BATCH_TEMPLATE
        .replace("{PARTICIPANT_ARRAYS}", "")
        .replace("{PARTICIPANT_COLUMNS}", "")
        .replace("{ATTENDED}", "")
});

static BATCH_WITH_ATTENDANCE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    BATCH_TEMPLATE
        .replace(
            "{PARTICIPANT_ARRAYS}",
            ", $23::text[], $24::text[], $25::text[], $26::timestamptz[], $27::timestamptz[]",
        )
        .replace(
            "{PARTICIPANT_COLUMNS}",
            ", peer_id, display_name, custom_participant_id, joined_at, left_at",
        )
        .replace("{ATTENDED}", &ATTENDED.replace("{MERGE_ATTENDANCE}", MERGE_ATTENDANCE))
});

/// Records many deliveries in one statement, and so one transaction (group commit), with the same outcome for
/// each as [`record`] would give it on its own. Within the batch, the first of several deliveries with one
/// `delivery_id` is the one recorded (the others are retries: `duplicate`), and the first delivery of a session
/// stores it (the others are `duplicate`). Participant events merge into their session's attendance (see
/// `attendance`), several of one peer first merged among themselves. Rows are written in key order, so concurrent
/// batches of several replicas take their locks in the same order and do not deadlock.
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
    let raw_bodies: Vec<&[u8]> = deliveries.iter().map(|d| d.body.bytes()).collect();
    let digests: Vec<&[u8]> = deliveries.iter().map(VerifiedDelivery::body_sha256).collect();
    let participant_text = |f: &dyn Fn(&ParticipantUpdate) -> Option<&str>| {
        deliveries
            .iter()
            .map(|d| d.participant().and_then(f))
            .collect::<Vec<_>>()
    };
    let participant_time = |f: &dyn Fn(&ParticipantUpdate) -> Option<DateTime<Utc>>| {
        deliveries
            .iter()
            .map(|d| d.participant().and_then(f))
            .collect::<Vec<_>>()
    };
    let durations: Vec<Option<i64>> = deliveries
        .iter()
        .map(|d| d.session().and_then(|s| s.duration_seconds))
        .collect();

    let statement = if deliveries.iter().any(|d| d.participant().is_some()) {
        &*BATCH_WITH_ATTENDANCE
    } else {
        &*BATCH
    };
    let query = sqlx::query_as(statement)
        .bind(column(&|d| Some(d.delivery_id.as_str())))
        .bind(column(&|d| d.webhook_id.as_ref().map(WebhookId::as_str)))
        .bind(column(&|d| d.event()))
        .bind(column(&|d| Some(d.kind())))
        .bind(column(&|d| d.error()))
        .bind(raw_bodies)
        .bind(column(&|d| {
            d.classified.session_id().filter(|_| !d.is_recorded_alone())
        }))
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
        .bind(jobs.kind_names())
        .bind(jobs.max_attempts)
        .bind(digests)
        .bind(column(&|d| d.app_id.as_deref()));
    let query = if statement == BATCH_WITH_ATTENDANCE.as_str() {
        query
            .bind(participant_text(&|p| Some(&p.peer_id)))
            .bind(participant_text(&|p| p.display_name.as_deref()))
            .bind(participant_text(&|p| p.custom_participant_id.as_deref()))
            .bind(participant_time(&|p| p.joined_at))
            .bind(participant_time(&|p| p.left_at))
    } else {
        query
    };
    let rows: Vec<(String, String)> = query.fetch_all(pool).await?;

    // Each recorded delivery id answers its first request; every other request is a duplicate.
    let mut recorded: HashMap<&str, Outcome> = rows
        .iter()
        .map(|(id, status)| Ok((id.as_str(), Outcome::from_column(status)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(deliveries
        .iter()
        .map(|d| recorded.remove(d.delivery_id.as_str()).unwrap_or(Outcome::Duplicate))
        .collect())
}

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
        // The delivery that stored the session, its duplicates, and the events of its artifacts: three index
        // lookups (see the migrations; the event list is the `deliveries_artifact_session_idx` predicate).
        query
            .push(" AND session_id = ")
            .push_bind(session_id.as_str())
            .push(" AND (status = 'duplicate' OR delivery_id = (SELECT s.delivery_id FROM sessions s WHERE s.session_id = ")
            .push_bind(session_id.as_str())
            .push(
                ") OR event IN ('recording.statusUpdate', 'meeting.transcript', 'meeting.summary', \
                 'meeting.chatSynced'))",
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

/// How many deliveries of each outcome were received since `since` (every outcome, zero included).
pub async fn counts_since(pool: &PgPool, since: DateTime<Utc>) -> Result<Vec<(Outcome, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT o.status, count(d.status) FROM unnest($1::text[]) AS o(status)
         LEFT JOIN deliveries d ON d.status = o.status AND d.received_at >= $2
         GROUP BY o.status",
    )
    .bind(Outcome::ALL.map(Outcome::as_str).to_vec())
    .bind(since)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(status, count)| Ok((Outcome::from_column(&status)?, count)))
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

/// What a replay made of a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub delivery_id: String,
    /// The outcome before the replay.
    pub previous_outcome: Outcome,
    pub outcome: Outcome,
    pub session_id: Option<String>,
    /// Why it is still `unprocessable` (or `foreign`), when it is.
    pub reason: Option<String>,
}

/// Reads the stored bytes again (after a parser fix, or once their app is configured) and records what they now
/// say: a `meeting.ended` records its session and follow-ups, unless the session is already recorded; another event
/// becomes `ignored`; a body still unusable stays `unprocessable` with the new reason, and one still of an app that
/// is not configured stays `foreign`. Idempotent: replaying twice records nothing twice.
pub async fn replay(
    pool: &PgPool,
    delivery_id: &str,
    jobs: &JobSpecs,
    apps: &Apps,
) -> Result<Option<Replayed>, sqlx::Error> {
    let Some(stored) = get(pool, delivery_id).await? else {
        return Ok(None);
    };
    let previous = stored.summary.outcome;
    let json: Option<serde_json::Value> = serde_json::from_slice(stored.body.bytes()).ok();
    let Reading { app_id, classified } = read_delivery(json.as_ref(), apps);
    let app_id = app_id.as_deref();
    let classified = match classified {
        Classified::Artifact(announcement) if announcement.needs_session() => {
            let known = artifact_checks::known_recording_session(pool, &announcement.artifact_id).await?;
            Classified::Artifact(Announcement {
                session_id: known.unwrap_or_default(),
                ..announcement
            })
        }
        other => other,
    };
    let update = match &classified {
        Classified::Artifact(announcement) if announcement.needs_session() => {
            // Its session is still to be asked of the API: it waits (again) for the sweep.
            sqlx::query_as(
                "WITH waiting AS (
                     INSERT INTO unattributed_recordings (delivery_id, recording_id, app_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $4, error = NULL, replayed_at = now(), app_id = $3
                 WHERE delivery_id = $1
                 RETURNING status, error",
            )
            .bind(delivery_id)
            .bind(&announcement.artifact_id)
            .bind(app_id)
            .bind(announcement.kind.event())
            .fetch_one(pool)
            .await
        }
        Classified::EndedSession(session) => {
            let statement = format!(
                "WITH {NEW_SESSION_WITH_JOBS}
                 UPDATE deliveries SET
                     status = CASE WHEN EXISTS (SELECT 1 FROM new_session) OR status = 'stored' THEN 'stored'
                                   ELSE 'duplicate' END,
                     event = 'meeting.ended', session_id = $1, error = NULL, replayed_at = now(), app_id = $18
                 WHERE delivery_id = $12
                 RETURNING status"
            );
            let webhook_id = stored.summary.webhook_id.as_deref();
            bind_session_with_jobs(
                sqlx::query_scalar(&statement),
                session,
                Some((delivery_id, webhook_id)),
                jobs,
            )
            .bind(app_id)
            .fetch_one(pool)
            .await
            // The update clears the error.
            .map(|status: String| (status, None))
        }
        Classified::Artifact(announcement) => {
            artifacts::announce(pool, announcement, jobs, async |transaction, changed| {
                sqlx::query_as(
                    "UPDATE deliveries SET
                         status = CASE WHEN $2 OR status = 'stored' THEN 'stored' ELSE 'duplicate' END,
                         event = $3, session_id = $4, error = NULL, replayed_at = now(), app_id = $5
                     WHERE delivery_id = $1
                     RETURNING status, error",
                )
                .bind(delivery_id)
                .bind(changed)
                .bind(announcement.kind.event())
                .bind(&announcement.session_id)
                .bind(app_id)
                .fetch_one(transaction)
                .await
            })
            .await
        }
        Classified::Participant { event, update } => {
            // Merged as in `record_batch`: applying it again changes nothing.
            let statement = format!(
                "WITH attended AS (
                     INSERT INTO attendance AS a (session_id, peer_id, display_name, custom_participant_id,
                                                  joined_at, left_at)
                     VALUES ($2, $3, $4, $5, $6, $7)
                     {MERGE_ATTENDANCE}
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $8, session_id = $2, error = NULL, replayed_at = now(), app_id = $9
                 WHERE delivery_id = $1
                 RETURNING status, error"
            );
            sqlx::query_as(&statement)
                .bind(delivery_id)
                .bind(&update.session_id)
                .bind(&update.peer_id)
                .bind(&update.display_name)
                .bind(&update.custom_participant_id)
                .bind(update.joined_at)
                .bind(update.left_at)
                .bind(*event)
                .bind(app_id)
                .fetch_one(pool)
                .await
        }
        Classified::Livestream(update) => {
            // Once: an update recorded before is not recorded again.
            sqlx::query_as(
                "WITH livestream AS (
                     INSERT INTO livestream_updates (delivery_id, session_id, stream_id, status, playback_url)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING
                 )
                 UPDATE deliveries SET status = CASE WHEN status = 'duplicate' THEN status ELSE 'stored' END,
                                       event = $6, session_id = $2, error = NULL, replayed_at = now(), app_id = $7
                 WHERE delivery_id = $1
                 RETURNING status, error",
            )
            .bind(delivery_id)
            .bind(&update.session_id)
            .bind(&update.stream_id)
            .bind(&update.status)
            .bind(&update.playback_url)
            .bind(LIVESTREAMING_STATUS_UPDATE)
            .bind(app_id)
            .fetch_one(pool)
            .await
        }
        Classified::Ignored { event } => {
            let set = "status = CASE WHEN status IN ('unprocessable', 'foreign') THEN 'ignored' ELSE status END, \
                       event = $2, error = NULL";
            update_replayed(pool, delivery_id, set, event, app_id).await
        }
        Classified::Unprocessable { reason, .. } => mark_still_unprocessable(pool, delivery_id, reason, app_id).await,
        Classified::Foreign { reason, .. } => {
            // Its app is still not configured: it stays as it was, with the reason of now.
            let set = "error = CASE WHEN status = 'foreign' THEN $2 ELSE error END";
            update_replayed(pool, delivery_id, set, reason, None).await
        }
    };
    let (status, error): (String, Option<String>) = match update {
        Ok(row) => row,
        Err(error) if crate::store::is_transient(&error) => return Err(error),
        Err(sqlx::Error::Database(refused)) => {
            let reason = format!("the database refused it: {}", refused.message());
            mark_still_unprocessable(pool, delivery_id, &reason, app_id).await?
        }
        Err(error) => return Err(error),
    };
    let outcome = Outcome::from_column(&status)?;
    let session_id = match &classified {
        Classified::EndedSession(_) | Classified::Artifact(_) if outcome != Outcome::Unprocessable => {
            classified.session_id().map(str::to_owned)
        }
        _ => stored.summary.session_id,
    };
    let reason = error.filter(|_| matches!(outcome, Outcome::Unprocessable | Outcome::Foreign));
    Ok(Some(Replayed {
        delivery_id: delivery_id.to_owned(),
        previous_outcome: previous,
        outcome,
        session_id,
        reason,
    }))
}

/// An unusable body stays (or, once its app is configured, becomes) `unprocessable`, with the reason of now.
async fn mark_still_unprocessable(
    pool: &PgPool,
    delivery_id: &str,
    reason: &str,
    app_id: Option<&str>,
) -> Result<(String, Option<String>), sqlx::Error> {
    let set = "error = CASE WHEN status IN ('unprocessable', 'foreign') THEN $2 ELSE error END, \
               status = CASE WHEN status = 'foreign' THEN 'unprocessable' ELSE status END";
    update_replayed(pool, delivery_id, set, reason, app_id).await
}

/// Records what a replay made of a delivery (`set`, with `$2` = `value`; the app id when it has one) and reads
/// back its status and error.
async fn update_replayed(
    pool: &PgPool,
    delivery_id: &str,
    set: &str,
    value: &str,
    app_id: Option<&str>,
) -> Result<(String, Option<String>), sqlx::Error> {
    let statement = format!(
        "UPDATE deliveries SET {set}, replayed_at = now(), app_id = coalesce($3, app_id)
         WHERE delivery_id = $1 RETURNING status, error"
    );
    sqlx::query_as(&statement)
        .bind(delivery_id)
        .bind(value)
        .bind(app_id)
        .fetch_one(pool)
        .await
}
