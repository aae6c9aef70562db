//! Group commit: many deliveries in one statement, and so one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::outcome::{Outcome, VerifiedDelivery};
use crate::domain::participant::ParticipantUpdate;
use crate::domain::{EndedSession, WebhookId};
use crate::store::followup_jobs::JobSpecs;

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
pub(super) const MERGE_ATTENDANCE: &str = "ON CONFLICT (session_id, peer_id) DO UPDATE SET
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
/// each as `record` would give it on its own. Within the batch, the first of several deliveries with one
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

    let with_attendance = deliveries.iter().any(|d| d.participant().is_some());
    let statement = if with_attendance {
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
    let query = if with_attendance {
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
