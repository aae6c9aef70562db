//! Group commit: many deliveries in one statement, and so one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::outcome::{MeetingColumns, Outcome, VerifiedDelivery};
use crate::domain::artifact::Announcement;
use crate::domain::livestream::LivestreamUpdate;
use crate::domain::participant::ParticipantUpdate;
use crate::domain::{Classified, EndedSession, WebhookId};
use crate::store::artifacts::{self, AnnouncementColumns};
use crate::store::job_specs::{self, JobSpecs};

/// The group-commit statement (see [`record_batch`]), in parts: the announcements applied first, the attendance
/// part and the part of the other events with rows of their own (starts, livestream updates) are in the statement of
/// a batch that has such deliveries, and left out of one without (most of them), which then neither binds nor plans
/// what it does not use.
const BATCH_HEAD: &str = r#"
        WITH {LISTENERS}, {APPLIED}input AS (
            SELECT {INPUT} FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[],
                                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                                 $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::int8[],
                                 $20::bytea[], $21::text[]{ARRAYS})
                WITH ORDINALITY AS i(delivery_id, webhook_id, event, {KIND}, error, raw_body,
                                     session_id, meeting_id, meeting_title, room_name, organization_id,
                                     organization_name, reason, meeting_created_at, started_at, ended_at,
                                     duration_seconds, body_sha256, app_id{COLUMNS}, ord){APPLIED_JOIN}
        ), seen AS MATERIALIZED (
            -- Deliveries received in the last 24 hours, the partition before this one's included (its unique keys
            -- see only their own month).
            SELECT * FROM deliveries_seen_recently($1, $20)
        ), first_of_id AS (
            -- The first of each delivery id. One recorded before finds its session recorded and its row there; one
            -- recorded in the partition before is left out here.
            SELECT DISTINCT ON (delivery_id) * FROM input i
            WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.delivery_id = i.delivery_id OR s.body_sha256 = i.body_sha256)
            ORDER BY delivery_id, ord
        ), fresh AS (
            -- And the first of each body: the same bytes under another rtk-uuid are a duplicate.
            SELECT DISTINCT ON (body_sha256) * FROM first_of_id
            ORDER BY body_sha256, ord
        ), flags AS MATERIALIZED (
            -- Once per statement: the sessions' locks, then the flags of those with artifacts announced before.
            SELECT * FROM session_artifact_flags(ARRAY(SELECT session_id FROM fresh WHERE kind = 'session'))
        ), new_sessions AS (
            -- The first delivery of each session stores it, unless it was recorded before.
            INSERT INTO sessions (session_id, meeting_id, meeting_title, room_name, organization_id,
                                  organization_name, reason, meeting_created_at, started_at, ended_at,
                                  duration_seconds, delivery_id, webhook_id, has_recording, has_transcript,
                                  has_summary, has_chat)
            SELECT DISTINCT ON (f.session_id) f.session_id, f.meeting_id, f.meeting_title, f.room_name,
                   f.organization_id, f.organization_name, f.reason, f.meeting_created_at, f.started_at, f.ended_at,
                   f.duration_seconds, f.delivery_id, f.webhook_id, coalesce(a.has_recording, false),
                   coalesce(a.has_transcript, false), coalesce(a.has_summary, false), coalesce(a.has_chat, false)
            FROM fresh f LEFT JOIN flags a ON a.session_id = f.session_id
            WHERE f.kind = 'session'
            ORDER BY f.session_id, f.ord
            {SESSION_CONFLICT}
            RETURNING session_id, delivery_id, organization_id AS app_id, duration_seconds,
                      has_recording OR has_transcript OR has_summary OR has_chat AS has_artifacts
        ), new_jobs AS (
            -- As in sessions::NEW_SESSION_WITH_JOBS: the archive follow-up only for a session with artifacts.
            INSERT INTO followup_jobs (session_id, followup, kind, trigger, max_attempts)
            SELECT s.session_id, l.name, l.kind, l.trigger, $19
            FROM new_sessions s JOIN listeners l ON {SESSION_ENDED}
            WHERE l.kind <> 'archive' OR s.has_artifacts
"#;

/// A batch's artifact announcements, applied before anything else of the statement reads its deliveries (`input`
/// reads what they became, so Postgres runs the call first): each one's delivery row is written with the status it
/// earned, `stored` for one that changed something, in place of its kind. The call takes the announced sessions'
/// locks, and those of the sessions the statement records, before it reads or writes anything (see
/// `artifacts::AnnouncementColumns`); `session_artifact_flags` then finds them held, and sees what the call wrote.
const APPLIED: &str = "applied AS MATERIALIZED (
            SELECT announcement_ord AS ord, announcement_changed AS changed FROM {CALL}
        ), ";

/// The delivery rows: `stored` for a new session, a participant event, a start or a livestream update; the
/// duplicate's or the classification's status otherwise.
const INSERT_DELIVERIES: &str = r#"
        INSERT INTO deliveries (delivery_id, webhook_id, event, status, session_id, error, raw_body, body_sha256,
                                app_id)
        SELECT f.delivery_id, f.webhook_id, f.event,
               CASE WHEN f.kind IN ('participant', 'started', 'livestream') THEN 'stored'
                    WHEN f.kind <> 'session' THEN f.kind
                    WHEN s.delivery_id IS NOT NULL THEN 'stored'
                    ELSE 'duplicate' END,
               f.session_id, f.error, f.raw_body, f.body_sha256, f.app_id
        FROM fresh f LEFT JOIN new_sessions s ON s.delivery_id = f.delivery_id
        ORDER BY f.delivery_id
        {DELIVERY_CONFLICT}
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
        ), participant_jobs AS (
            -- One job per listener and peer: a retry of the event (or its twin in the batch) queues nothing more.
            INSERT INTO followup_jobs (session_id, followup, kind, trigger, subject, max_attempts)
            SELECT f.session_id, l.name, l.kind, l.trigger, f.peer_id, $19
            FROM fresh f JOIN listeners l ON {PARTICIPANT}
            WHERE f.kind = 'participant'
            ORDER BY f.session_id, l.name, l.trigger, f.peer_id
            ON CONFLICT DO NOTHING
";

/// Starts and livestream updates write their rows only with a delivery row recorded now: a retry, or the same
/// bytes under another rtk-uuid, adds no transition (and a session known live stays as it is).
const STARTED_AND_STREAMED: &str = "
        ), started AS (
            INSERT INTO live_sessions (session_id, meeting_id, meeting_title, room_name, organization_id,
                                       organization_name, meeting_created_at, started_at, delivery_id)
            SELECT DISTINCT ON (f.session_id) f.session_id, f.meeting_id, f.meeting_title, f.room_name,
                   f.organization_id, f.organization_name, f.meeting_created_at, coalesce(f.started_at, now()),
                   f.delivery_id
            FROM fresh f JOIN recorded r ON r.delivery_id = f.delivery_id
            WHERE f.kind = 'started'
            ORDER BY f.session_id, f.ord
            ON CONFLICT DO NOTHING
        ), streamed AS (
            INSERT INTO livestream_updates (delivery_id, session_id, stream_id, status, playback_url)
            SELECT f.delivery_id, f.session_id, f.stream_id, f.stream_status, f.playback_url
            FROM fresh f JOIN recorded r ON r.delivery_id = f.delivery_id
            WHERE f.kind = 'livestream'
            ORDER BY f.delivery_id
            ON CONFLICT DO NOTHING
        ), started_jobs AS (
            INSERT INTO followup_jobs (session_id, followup, kind, trigger, max_attempts)
            SELECT DISTINCT ON (f.session_id, l.name) f.session_id, l.name, l.kind, l.trigger, $19
            FROM fresh f JOIN listeners l ON {SESSION_STARTED}
            WHERE f.kind = 'started'
            ORDER BY f.session_id, l.name
            ON CONFLICT DO NOTHING
        )
        SELECT delivery_id, status FROM recorded
";

/// How a peer's events merge into its attendance entry, whatever their order: the earliest join, the latest leave,
/// names once known (`greatest`, so that the order does not choose). Applying an event again changes nothing.
pub(super) const MERGE_ATTENDANCE: &str = "ON CONFLICT (session_id, peer_id) DO UPDATE SET
                display_name = greatest(a.display_name, EXCLUDED.display_name),
                custom_participant_id = greatest(a.custom_participant_id, EXCLUDED.custom_participant_id),
                joined_at = least(a.joined_at, EXCLUDED.joined_at),
                left_at = greatest(a.left_at, EXCLUDED.left_at)";

/// Whether a batch's statement expects a delivery or session to be recorded already (see [`record_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflicts {
    /// The first try: plain inserts, which check each unique key once, as they insert; a delivery or session
    /// recorded already (by another batch, a replica, an earlier try) fails the whole statement.
    Unexpected,
    /// The second: `ON CONFLICT DO NOTHING` skips what is recorded already, at the price of checking each unique key
    /// a second time before inserting.
    Expected,
}

/// The statement for a batch with (or without) artifact announcements, participant events, and starts or livestream
/// updates; the optional arrays are numbered from $22 in the order participants, starts, announcements.
fn batch_statement(announced: bool, attendance: bool, own_rows: bool, conflicts: Conflicts) -> String {
    let (mut arrays, mut columns, mut next) = (String::new(), String::new(), 22);
    if attendance {
        arrays.push_str(", $22::text[], $23::text[], $24::text[], $25::timestamptz[], $26::timestamptz[]");
        columns.push_str(", peer_id, display_name, custom_participant_id, joined_at, left_at");
        next = 27;
    }
    if own_rows {
        arrays.push_str(&format!(
            ", ${next}::text[], ${}::text[], ${}::text[]",
            next + 1,
            next + 2
        ));
        columns.push_str(", stream_id, stream_status, playback_url");
        next += 3;
    }
    let (applied, input, kind, applied_join) = if announced {
        (
            APPLIED.replace("{CALL}", &AnnouncementColumns::call(next)),
            format!(
                "i.*, CASE a.changed WHEN true THEN '{}' WHEN false THEN '{}' ELSE i.given_kind END AS kind",
                Outcome::Stored.as_str(),
                Outcome::Duplicate.as_str()
            ),
            "given_kind",
            "\n                LEFT JOIN applied a ON a.ord = i.ord",
        )
    } else {
        (String::new(), "*".to_owned(), "kind", "")
    };
    let (session_conflict, delivery_conflict) = match conflicts {
        Conflicts::Unexpected => ("", ""),
        Conflicts::Expected => ("ON CONFLICT (session_id) DO NOTHING", "ON CONFLICT DO NOTHING"),
    };
    let mut statement = BATCH_HEAD
        .replace("{APPLIED}", &applied)
        .replace("{INPUT}", &input)
        .replace("{KIND}", kind)
        .replace("{APPLIED_JOIN}", applied_join)
        .replace("{SESSION_CONFLICT}", session_conflict)
        .replace("{LISTENERS}", &job_specs::listeners("$18"))
        .replace("{ARRAYS}", &arrays)
        .replace("{COLUMNS}", &columns)
        .replace(
            "{SESSION_ENDED}",
            &job_specs::listening(job_specs::AT_THE_END, "s.app_id", "s.duration_seconds"),
        );
    if attendance {
        let trigger = "CASE f.event WHEN 'meeting.participantJoined' THEN 'participant.joined' \
                       ELSE 'participant.left' END";
        statement.push_str(
            &ATTENDED
                .replace("{MERGE_ATTENDANCE}", MERGE_ATTENDANCE)
                .replace("{PARTICIPANT}", &job_specs::listening(trigger, "f.app_id", "NULL")),
        );
    }
    if own_rows {
        statement.push_str("        ), recorded AS (");
        statement.push_str(&INSERT_DELIVERIES.replace("{DELIVERY_CONFLICT}", delivery_conflict));
        statement.push_str(&STARTED_AND_STREAMED.replace(
            "{SESSION_STARTED}",
            &job_specs::listening("'session.started'", "f.app_id", "NULL"),
        ));
    } else {
        statement.push_str("        )");
        statement.push_str(&INSERT_DELIVERIES.replace("{DELIVERY_CONFLICT}", delivery_conflict));
    }
    statement
}

/// The sixteen statements, by `conflicts_expected as usize * 8 + announced as usize * 4 + attendance as usize * 2 +
/// own_rows as usize`.
static BATCH_STATEMENTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let mut statements = Vec::with_capacity(16);
    for conflicts in [Conflicts::Unexpected, Conflicts::Expected] {
        for announced in [false, true] {
            for attendance in [false, true] {
                for own_rows in [false, true] {
                    statements.push(batch_statement(announced, attendance, own_rows, conflicts));
                }
            }
        }
    }
    statements
});

/// Records many deliveries in one transaction (group commit), with the same outcome for each as `record` would give
/// it on its own. Within the batch, the first of several deliveries with one `delivery_id` is the one recorded (the
/// others are retries: `duplicate`), and the first delivery of a session stores it (the others are `duplicate`).
/// Participant events merge into their session's attendance (see `attendance`), several of one peer first merged
/// among themselves. Rows are written in key order, so concurrent batches of several replicas take their locks in
/// the same order and do not deadlock.
///
/// Artifact announcements are applied by the same statement, before it reads anything else (see [`APPLIED`]), with
/// their sessions' locks taken exclusively and those of the sessions it records shared, all in one order; it writes
/// their delivery rows with the others' (`stored` for one that changed something) and sees what they wrote (a session
/// and its artifact in one batch start out flagged).
///
/// A delivery or session is rarely recorded already (a retry RealtimeKit sends after a timeout, a race between
/// replicas), so the first try expects none and checks each unique key once; when one is, the database refuses the
/// whole statement (nothing of it is kept) and the batch is recorded again by the statement that skips what is
/// recorded (see [`Conflicts`]).
///
/// It wakes no worker for the jobs it queues: its caller does, after the commit, so that the many commits of a busy
/// minute share few wake-ups (see `ingest` and `followup_jobs::wake_workers`).
///
/// It takes a connection rather than the pool: the writers of `ingest` keep theirs from batch to batch, as a
/// connection taken from the pool and given back costs two round trips to Postgres each time (the pool checks it).
pub async fn record_batch(
    connection: &mut PgConnection,
    deliveries: &[VerifiedDelivery],
    jobs: &JobSpecs,
) -> Result<Vec<Outcome>, sqlx::Error> {
    match record_in_statement(&mut *connection, deliveries, jobs, Conflicts::Unexpected).await {
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            record_in_statement(connection, deliveries, jobs, Conflicts::Expected).await
        }
        result => result,
    }
}

/// Postgres's SQLSTATE for a unique key already taken.
const UNIQUE_VIOLATION: &str = "23505";

/// The one statement that records `deliveries`.
async fn record_in_statement<'d>(
    executor: impl PgExecutor<'_>,
    deliveries: &'d [VerifiedDelivery],
    jobs: &'d JobSpecs,
    conflicts: Conflicts,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let column = |f: &dyn Fn(&VerifiedDelivery) -> Option<&str>| deliveries.iter().map(f).collect::<Vec<_>>();
    let meeting_text = |f: &dyn Fn(&MeetingColumns<'d>) -> Option<&'d str>| {
        deliveries
            .iter()
            .map(|d| d.meeting().as_ref().and_then(f))
            .collect::<Vec<_>>()
    };
    let meeting_time = |f: &dyn Fn(&MeetingColumns<'d>) -> Option<DateTime<Utc>>| {
        deliveries
            .iter()
            .map(|d| d.meeting().as_ref().and_then(f))
            .collect::<Vec<_>>()
    };
    let session_text = |f: &dyn Fn(&EndedSession) -> Option<&str>| {
        deliveries.iter().map(|d| d.session().and_then(f)).collect::<Vec<_>>()
    };
    let raw_bodies: Vec<&[u8]> = deliveries.iter().map(|d| d.body.bytes()).collect();
    let digests: Vec<&[u8]> = deliveries.iter().map(|d| d.body_sha256()).collect();
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
    let livestream_text = |f: &dyn Fn(&LivestreamUpdate) -> Option<&str>| {
        deliveries
            .iter()
            .map(|d| d.livestream().and_then(f))
            .collect::<Vec<_>>()
    };
    let ended_at: Vec<Option<DateTime<Utc>>> = deliveries.iter().map(|d| d.session().map(|s| s.ended_at)).collect();
    let durations: Vec<Option<i64>> = deliveries
        .iter()
        .map(|d| d.session().and_then(|s| s.duration_seconds))
        .collect();

    let kinds: Vec<&str> = deliveries.iter().map(|d| d.kind()).collect();
    // Each announcement with its place in the batch, as the statement numbers its deliveries (from 1).
    let announcements: Vec<(i32, &Announcement)> = (deliveries.iter().enumerate())
        .filter_map(|(i, d)| d.batched_announcement().map(|a| (i as i32 + 1, a)))
        .collect();
    let announced = !announcements.is_empty();
    let attendance = deliveries.iter().any(|d| d.participant().is_some());
    let own_rows =
        (deliveries.iter()).any(|d| matches!(d.classified, Classified::Started(_) | Classified::Livestream(_)));
    let expected = usize::from(conflicts == Conflicts::Expected);
    let statement = &BATCH_STATEMENTS
        [expected * 8 + usize::from(announced) * 4 + usize::from(attendance) * 2 + usize::from(own_rows)];
    let query = sqlx::query_as(statement)
        .bind(column(&|d| Some(d.delivery_id.as_str())))
        .bind(column(&|d| d.webhook_id.as_ref().map(WebhookId::as_str)))
        .bind(column(&|d| d.event()))
        .bind(kinds)
        .bind(column(&|d| d.error()))
        .bind(raw_bodies)
        .bind(column(&|d| {
            d.classified.session_id().filter(|_| !d.is_recorded_alone())
        }))
        .bind(meeting_text(&|m| Some(m.meeting_id)))
        .bind(meeting_text(&|m| m.title))
        .bind(meeting_text(&|m| m.room_name))
        .bind(meeting_text(&|m| m.organization_id))
        .bind(meeting_text(&|m| m.organization_name))
        .bind(session_text(&|s| s.reason.as_deref()))
        .bind(meeting_time(&|m| m.created_at))
        .bind(meeting_time(&|m| m.started_at))
        .bind(ended_at)
        .bind(durations)
        .bind(jobs.json())
        .bind(jobs.max_attempts)
        .bind(digests)
        .bind(column(&|d| d.app_id.as_deref()));
    let query = if attendance {
        query
            .bind(participant_text(&|p| Some(&p.peer_id)))
            .bind(participant_text(&|p| p.display_name.as_deref()))
            .bind(participant_text(&|p| p.custom_participant_id.as_deref()))
            .bind(participant_time(&|p| p.joined_at))
            .bind(participant_time(&|p| p.left_at))
    } else {
        query
    };
    let query = if own_rows {
        query
            .bind(livestream_text(&|l| Some(&l.stream_id)))
            .bind(livestream_text(&|l| Some(&l.status)))
            .bind(livestream_text(&|l| l.playback_url.as_deref()))
    } else {
        query
    };
    let query = if announced {
        let recorded = (deliveries.iter())
            .filter_map(|d| d.session().map(|s| s.session_id.as_str()))
            .collect();
        AnnouncementColumns::of(&announcements, recorded, jobs).bind(query)
    } else {
        query
    };
    let rows: Vec<(String, String)> = query.fetch_all(executor).await?;

    // Each recorded delivery id answers its first request; every other request is a duplicate.
    let mut recorded: HashMap<&str, Outcome> = rows
        .iter()
        .map(|(id, status)| Ok((id.as_str(), Outcome::from_column(status)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let outcomes: Vec<Outcome> = (deliveries.iter())
        .map(|d| recorded.remove(d.delivery_id.as_str()).unwrap_or(Outcome::Duplicate))
        .collect();
    // An announcement whose delivery row is `stored` changed something (a retry in the batch is `duplicate`).
    for &(ord, announcement) in &announcements {
        artifacts::count_if_lost(announcement, outcomes[ord as usize - 1] == Outcome::Stored);
    }
    Ok(outcomes)
}
