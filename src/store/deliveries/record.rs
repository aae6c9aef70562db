//! Recording one delivery in its own transaction, by what it is.

use std::sync::LazyLock;

use sqlx::PgPool;

use super::batch::record_batch;
use super::outcome::{Outcome, VerifiedDelivery};
use crate::domain::artifact::Announcement;
use crate::domain::{Classified, EndedSession, WebhookId};
use crate::store::job_specs::JobSpecs;
use crate::store::sessions::{NEW_SESSION_WITH_JOBS, bind_session_with_jobs};
use crate::store::{artifact_checks, artifacts};

/// The condition on every insert of one delivery: not received in the partition before within the last 24 hours
/// (the partition being written has unique keys for the rest; the batch statement filters the same way with
/// `deliveries_seen_recently`). Written into each statement once, when it is first used.
fn not_seen_recently(delivery_id: &str, body_sha256: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM deliveries_seen_recently(ARRAY[{delivery_id}::text], ARRAY[{body_sha256}::bytea]))"
    )
}

/// [`record_foreign`]'s statement.
static FOREIGN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH room AS (
            SELECT count(*) < $8 AS has_room
            FROM (SELECT 1 FROM deliveries WHERE status = 'foreign' LIMIT $8) AS kept
        ), inserted AS (
            INSERT INTO deliveries (delivery_id, webhook_id, event, status, error, raw_body, body_sha256, app_id)
            SELECT $1, $2, $3, 'foreign', $4, $5, $6, $7 FROM room WHERE has_room AND {not_seen}
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT has_room FROM room), EXISTS (SELECT 1 FROM inserted)",
        not_seen = not_seen_recently("$1", "$6")
    )
});

/// [`record_announcement`]'s statement for the delivery row.
static ANNOUNCEMENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, raw_body, body_sha256,
                                 app_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE {}
         ON CONFLICT DO NOTHING
         RETURNING status",
        not_seen_recently("$1", "$7")
    )
});

/// [`record_ended_session`]'s statement.
static ENDED_SESSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}
         INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, raw_body, body_sha256, app_id)
         SELECT $12, $13, 'meeting.ended',
                CASE WHEN EXISTS (SELECT 1 FROM new_session) THEN 'stored' ELSE 'duplicate' END,
                $1, $17, $18, $19
         WHERE {}
         ON CONFLICT DO NOTHING
         RETURNING status",
        *NEW_SESSION_WITH_JOBS,
        not_seen_recently("$12", "$18")
    )
});

/// [`record_other`]'s statement.
static OTHER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries (delivery_id, webhook_id, event, status, error, raw_body, body_sha256, app_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE {}
         ON CONFLICT DO NOTHING",
        not_seen_recently("$1", "$7")
    )
});

/// Records one delivery in its own transaction. At most `foreign_kept` foreign deliveries are kept. As
/// [`record_batch`], it leaves waking the workers to its caller.
pub async fn record(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    jobs: &JobSpecs,
    foreign_kept: u32,
) -> Result<Outcome, sqlx::Error> {
    match &delivery.classified {
        Classified::EndedSession(session) => record_ended_session(pool, delivery, session, jobs).await,
        Classified::Artifact(announcement) => record_announcement(pool, delivery, announcement, jobs).await,
        // The batch statement is the one way participant events, starts and livestream updates are recorded, one
        // or many at a time.
        Classified::Participant { .. } | Classified::Started(_) | Classified::Livestream(_) => {
            let outcomes = record_batch(&mut *pool.acquire().await?, std::slice::from_ref(delivery), jobs).await?;
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
    let (has_room, inserted): (bool, bool) = sqlx::query_as(&FOREIGN)
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
        let inserted: Option<String> = sqlx::query_scalar(&ANNOUNCEMENT)
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

/// A recording event that names no session, of a recording not known here: kept as `stored` without a session,
/// and queued for the reconciliation sweep to ask `GET /recordings/{id}` which session it is (see
/// `reconcile::attribute_recordings`). A retry of it is a duplicate.
async fn record_unattributed(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    announcement: &Announcement,
) -> Result<Outcome, sqlx::Error> {
    let also = "INSERT INTO unattributed_recordings (delivery_id, recording_id, app_id)
                SELECT delivery_id, $8, $7 FROM delivery";
    record_stored_with(pool, delivery, None, also, &[Some(&announcement.artifact_id)]).await
}

/// The delivery's row as `stored` (nothing for a retry: `duplicate`) and, only when it is new, `also`: a statement
/// reading the CTE `delivery` (its `delivery_id`), with $1 to $7 the delivery's columns (the session id is $4, the
/// app id $7) and its own text parameters, `texts`, from $8. Both are written together or not at all.
async fn record_stored_with(
    pool: &PgPool,
    delivery: &VerifiedDelivery,
    session_id: Option<&str>,
    also: &str,
    texts: &[Option<&str>],
) -> Result<Outcome, sqlx::Error> {
    let statement = format!(
        "WITH delivery AS (
             INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, raw_body, body_sha256, app_id)
             SELECT $1, $2, $3, 'stored', $4, $5, $6, $7 WHERE {not_seen}
             ON CONFLICT DO NOTHING
             RETURNING delivery_id
         ), also AS ({also} ON CONFLICT DO NOTHING)
         SELECT EXISTS (SELECT 1 FROM delivery)",
        not_seen = not_seen_recently("$1", "$6")
    );
    let mut query = sqlx::query_scalar(&statement)
        .bind(delivery.delivery_id.as_str())
        .bind(delivery.webhook_id.as_ref().map(WebhookId::as_str))
        .bind(delivery.event())
        .bind(session_id)
        .bind(delivery.body.bytes())
        .bind(delivery.body_sha256())
        .bind(delivery.app_id.as_deref());
    for text in texts {
        query = query.bind(*text);
    }
    let inserted: bool = query.fetch_one(pool).await?;
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
    let webhook_id = delivery.webhook_id.as_ref().map(WebhookId::as_str);
    let query = sqlx::query_scalar(&ENDED_SESSION);
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
    let inserted = sqlx::query(&OTHER)
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
