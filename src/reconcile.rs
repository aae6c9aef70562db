//! The reconciliation sweep: lists recently ended sessions through the Sessions API and records each one that no
//! delivery brought (RealtimeKit's retry window is undocumented, and an outage of ours can outlast it).
//!
//! A reconciled session is recorded like a delivered one, marked `source = 'reconciliation'`. Whichever comes first
//! wins: a delivery arriving later for it is a duplicate, and a session a delivery already brought is left alone.
//! One replica sweeps at a time (a Postgres advisory lock); the others skip that round.
//!
//! The sweep also looks after artifacts whose events never came: it records the session of artifacts announced for
//! a session whose `meeting.ended` never came, and asks the API for the artifacts of recorded sessions (a bounded
//! number per sweep, each session once, within RealtimeKit's 7 days).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::background;
use crate::config::ReconcileSettings;
use crate::domain::App;
use crate::domain::EndedSession;
use crate::domain::lenient;
use crate::realtimekit::client::{AppClients, RealtimeKitClient, SessionDetails, SessionQuery};
use crate::store::database::DatabaseReadiness;
use crate::store::job_specs::JobSpecs;
use crate::store::{artifact_checks, artifacts, live_sessions, sessions};

/// The advisory lock key that keeps sweeps from overlapping across replicas ("rtk" + 2).
const RECONCILE_LOCK: i64 = 0x7274_6b02;
const PER_PAGE: u32 = 100;
/// A bound on one sweep, whatever the API's paging says.
const MAX_PAGES: u32 = 1000;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Ended sessions the API listed.
    pub listed: u64,
    /// Of those, recorded now.
    pub recorded: u64,
    /// Of those, already recorded.
    pub already_known: u64,
    /// Listed but without the fields a session needs (meeting id, end time).
    pub unusable: u64,
    /// Sessions recorded because artifacts were announced for them and their `meeting.ended` never came.
    pub recorded_for_artifacts: u64,
    /// Sessions whose artifacts were asked for through the API, and the artifacts that told us something new.
    pub sessions_checked_for_artifacts: u64,
    pub artifacts_found: u64,
    /// Recording events that named no session, now attributed to theirs through the Recordings API.
    pub recordings_attributed: u64,
    /// False when another replica held the lock and this sweep did nothing.
    pub ran: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Api(#[from] crate::realtimekit::client::ApiError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Records every session that ended since `since` and is missing here, for each app whose API can be called (or
/// only `only_app`), each through its own credentials. An app whose API fails does not stop the others; the sweep
/// then ends in the first such error, and the next one tries again (recording is idempotent).
pub async fn sweep(
    pool: &PgPool,
    clients: &AppClients,
    only_app: Option<&str>,
    since: DateTime<Utc>,
    jobs: &JobSpecs,
    artifact_checks: u32,
) -> Result<SweepReport, SweepError> {
    // A session-level lock on a connection of its own, closed afterwards so the lock cannot outlive the sweep.
    let mut lock_connection = pool.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(RECONCILE_LOCK)
        .fetch_one(&mut lock_connection)
        .await?;
    if !locked {
        return Ok(SweepReport::default());
    }
    let mut report = SweepReport {
        ran: true,
        ..SweepReport::default()
    };
    let mut first_error = None;
    for (app, client) in clients
        .callable()
        .filter(|(app, _)| only_app.is_none_or(|id| id == app.app_id))
    {
        let before = report.clone();
        let swept = sweep_app(pool, app, client, since, jobs, &mut report).await;
        record_app_sweep(app, &before, &report);
        if let Err(error) = swept {
            tracing::warn!(app = %app.app_id, error = %error, "reconciliation of this app failed; the next sweep retries");
            first_error.get_or_insert(error);
        }
    }
    if let Err(error) = attribute_recordings(pool, clients, jobs, &mut report).await {
        first_error.get_or_insert(error);
    }
    if artifact_checks > 0 && first_error.is_none() {
        let artifacts_checked = async {
            record_sessions_of_orphan_artifacts(pool, clients, jobs, &mut report).await?;
            check_artifacts(pool, clients, jobs, i64::from(artifact_checks), &mut report).await
        };
        if let Err(error) = artifacts_checked.await {
            first_error = Some(error);
        }
    }
    let _ = sqlx::Connection::close(lock_connection).await;
    match first_error {
        Some(error) => Err(error),
        None => Ok(report),
    }
}

/// One app's ended sessions since `since`, each recorded unless it is already.
async fn sweep_app(
    pool: &PgPool,
    app: &App,
    client: &RealtimeKitClient,
    since: DateTime<Utc>,
    jobs: &JobSpecs,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    for page_no in 1..=MAX_PAGES {
        let page = client
            .list_sessions(&SessionQuery {
                status: Some("ENDED".into()),
                start_time: Some(since),
                end_time: None,
                page_no,
                per_page: PER_PAGE,
            })
            .await?;
        for details in &page.sessions {
            if details
                .status
                .as_deref()
                .is_some_and(|s| !s.eq_ignore_ascii_case("ENDED"))
            {
                continue;
            }
            report.listed += 1;
            let Some(session) = ended_session(details, &app.app_id) else {
                report.unusable += 1;
                tracing::warn!(session_id = %details.id, "the Sessions API listed an ended session without a meeting id or end time; skipped");
                continue;
            };
            if sessions::record_reconciled(pool, &session, jobs).await? {
                report.recorded += 1;
                tracing::info!(session_id = %session.session_id, meeting_id = %session.meeting_id, "recorded a session whose delivery never came");
            } else {
                report.already_known += 1;
            }
        }
        if page.last {
            break;
        }
    }
    Ok(())
}

/// RealtimeKit keeps artifacts this long.
const ARTIFACT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's artifacts are asked for once it ended this long ago (a summary takes minutes to be made).
const ARTIFACTS_SETTLE: Duration = Duration::from_secs(3600);
/// An artifact whose session has not been recorded this long after it was announced: its session is asked for.
const ORPHAN_AFTER: Duration = Duration::from_secs(600);

/// Artifacts announced for a session whose `meeting.ended` never came: the session is fetched and recorded (which
/// attaches them and queues their archive), once RealtimeKit says it ended.
async fn record_sessions_of_orphan_artifacts(
    pool: &PgPool,
    clients: &AppClients,
    jobs: &JobSpecs,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    for (session_id, app_id) in artifact_checks::orphan_sessions(pool, ORPHAN_AFTER, 100).await? {
        // Only an app this deployment can call is asked: its artifacts were announced under its id.
        let Ok((app, client)) = clients.for_app(app_id.as_deref()) else {
            continue;
        };
        if let SessionNow::Ended(session) = session_now(client, app, &session_id).await?
            && sessions::record_reconciled(pool, &session, jobs).await?
        {
            report.recorded_for_artifacts += 1;
            tracing::info!(%session_id, "recorded a session whose artifacts came but whose meeting.ended did not");
        }
    }
    Ok(())
}

/// Asks the API for the artifacts of the next recorded sessions (each once, oldest first, within RealtimeKit's 7
/// days), and records what their events never brought.
async fn check_artifacts(
    pool: &PgPool,
    clients: &AppClients,
    jobs: &JobSpecs,
    limit: i64,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    for session in artifact_checks::sessions_to_check(pool, ARTIFACT_WINDOW, ARTIFACTS_SETTLE, limit).await? {
        let Ok((_, client)) = clients.for_app(session.organization_id.as_deref()) else {
            // A session of an app that cannot be called: nothing to ask, and the sweep moves past it.
            artifact_checks::checked_up_to(pool, &session).await?;
            continue;
        };
        let found = client
            .artifacts_of_session(
                &session.session_id,
                &session.meeting_id,
                session.organization_id.as_deref(),
            )
            .await;
        let found = match found {
            Ok(found) => found,
            // Worth another sweep: this session is asked about again next time.
            Err(error) if error.is_transient() || error.is_auth_failure() => return Err(error.into()),
            // The API no longer knows it (404), or refuses the question for good: nothing to find, and the sweep
            // goes on rather than stopping at this session every time.
            Err(error) => {
                if !error.is_not_found() {
                    tracing::warn!(session_id = %session.session_id, error = %error.describe(), "could not ask for a session's artifacts; skipped");
                }
                Vec::new()
            }
        };
        for announcement in &found {
            if artifacts::announce(pool, announcement, jobs, async |_, changed| Ok(changed)).await? {
                report.artifacts_found += 1;
            }
        }
        artifact_checks::checked_up_to(pool, &session).await?;
        report.sessions_checked_for_artifacts += 1;
    }
    Ok(())
}

/// What the Sessions API says of a session now.
enum SessionNow {
    Ended(Box<EndedSession>),
    Live,
    /// Not known to it (any more), or ended without the fields a session needs.
    Unknown,
}

/// Asks the Sessions API of `app` about one session; a failed call is the caller's error (the next sweep retries).
async fn session_now(client: &RealtimeKitClient, app: &App, session_id: &str) -> Result<SessionNow, SweepError> {
    let details = match client.get_session(session_id).await {
        Ok(details) => details,
        Err(error) if error.is_not_found() => return Ok(SessionNow::Unknown),
        Err(error) => return Err(error.into()),
    };
    let status = details.status.as_deref().unwrap_or_default();
    Ok(if status.eq_ignore_ascii_case("ENDED") {
        ended_session(&details, &app.app_id).map_or(SessionNow::Unknown, |s| SessionNow::Ended(Box::new(s)))
    } else if status.eq_ignore_ascii_case("LIVE") {
        SessionNow::Live
    } else {
        SessionNow::Unknown
    })
}

/// How many live sessions one check asks about at most, and how soon one still live is asked about again.
const LIVE_CHECKS_PER_SWEEP: i64 = 100;
const LIVE_RECHECK: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCheckReport {
    /// Live sessions older than `reconcile.stale_live_hours` asked about.
    pub checked: u64,
    /// Of those, ended by RealtimeKit's account: recorded as ended now.
    pub ended: u64,
    /// Still live by RealtimeKit's account: asked about again an hour later.
    pub still_live: u64,
    /// Unknown to RealtimeKit, or ended without what a session needs: marked stale.
    pub stale: u64,
}

/// Sessions live for longer than `stale_after` (their `meeting.ended` may be lost): each is asked about through
/// the Sessions API, and recorded as ended, left live, or marked stale. Each app through its own credentials.
pub async fn check_live_sessions(
    pool: &PgPool,
    clients: &AppClients,
    jobs: &JobSpecs,
    stale_after: Duration,
) -> Result<LiveCheckReport, SweepError> {
    let now = Utc::now();
    let only_app = clients.apps().len() == 1;
    let mut report = LiveCheckReport::default();
    for (app, client) in clients.callable() {
        let started_before = now - stale_after;
        let checked_before = now - LIVE_RECHECK;
        let due = live_sessions::due_for_check(
            pool,
            &app.app_id,
            only_app,
            started_before,
            checked_before,
            LIVE_CHECKS_PER_SWEEP,
        );
        for session_id in due.await? {
            report.checked += 1;
            match session_now(client, app, &session_id).await? {
                SessionNow::Ended(session) => {
                    sessions::record_reconciled(pool, &session, jobs).await?;
                    report.ended += 1;
                    tracing::info!(%session_id, "a live session whose meeting.ended never came is ended, as RealtimeKit says");
                }
                SessionNow::Live => {
                    live_sessions::checked(pool, &session_id, false).await?;
                    report.still_live += 1;
                }
                SessionNow::Unknown => {
                    live_sessions::checked(pool, &session_id, true).await?;
                    report.stale += 1;
                    tracing::warn!(%session_id, "a session has been live for longer than reconcile.stale_live_hours and RealtimeKit does not say it ended: marked stale");
                }
            }
        }
    }
    Ok(report)
}

/// How many recording events without a session one sweep asks about at most.
const ATTRIBUTIONS_PER_SWEEP: i64 = 100;

/// Recording events that named no session (Dyte-era payloads): `GET /recordings/{id}` says the session, and the
/// event is then recorded as if it had named it. A recording RealtimeKit does not know (any more), or one whose
/// answer names no session, leaves its delivery `unprocessable` with the reason (a replay tries again); a failed
/// call is retried by a later sweep, backing off.
async fn attribute_recordings(
    pool: &PgPool,
    clients: &AppClients,
    jobs: &JobSpecs,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    for waiting in artifact_checks::unattributed_due(pool, ATTRIBUTIONS_PER_SWEEP).await? {
        let delivery_id = &waiting.delivery_id;
        let client = match clients.for_app(waiting.app_id.as_deref()) {
            Ok((_, client)) => client,
            Err(why) => {
                artifact_checks::attribution_failed(pool, delivery_id, &why.to_string()).await?;
                continue;
            }
        };
        let session_id = match client.recording(&waiting.recording_id).await {
            Ok(Some(recording)) => recording.session_id,
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%delivery_id, error = %error.describe(), "could not ask for a recording's session; a later sweep retries");
                artifact_checks::attribution_failed(pool, delivery_id, &error.describe()).await?;
                continue;
            }
        };
        let Some(session_id) = session_id else {
            let reason = format!(
                "the event names no session, and GET /recordings/{} does not say one (RealtimeKit keeps recordings 7 days)",
                waiting.recording_id
            );
            artifact_checks::attribution_impossible(pool, delivery_id, &reason).await?;
            continue;
        };
        if artifact_checks::attribute(pool, delivery_id, &session_id, jobs).await? {
            report.recordings_attributed += 1;
            tracing::info!(%delivery_id, %session_id, "a recording event that named no session is attributed to its session");
        }
    }
    Ok(())
}

/// A session as the Sessions API of `app_id` describes it, in the form a delivery would have given; its app is the
/// one asked when the answer names none.
pub fn ended_session(details: &SessionDetails, app_id: &str) -> Option<EndedSession> {
    let text = |v: &Option<String>| v.as_deref().map(|s| Value::String(s.to_owned()));
    let ended_at = lenient::timestamp(text(&details.ended_at).as_ref())?;
    let started_at = lenient::timestamp(text(&details.started_at).as_ref());
    let meeting_id = lenient::text(text(&details.associated_id).as_ref())?;
    let session_id = lenient::text(Some(&Value::String(details.id.clone())))?;
    Some(EndedSession {
        session_id,
        meeting_id,
        meeting_title: lenient::text(text(&details.meeting_display_name).as_ref()),
        room_name: None,
        organization_id: lenient::text(text(&details.organization_id).as_ref()).or_else(|| Some(app_id.to_owned())),
        organization_name: None,
        reason: None,
        meeting_created_at: None,
        started_at,
        ended_at,
        duration_seconds: started_at.map(|s| (ended_at - s).num_seconds()).filter(|d| *d >= 0),
    })
}

/// `rtk_reconciliation_sessions_total{app,result}`: what one app's part of a sweep added.
fn record_app_sweep(app: &App, before: &SweepReport, after: &SweepReport) {
    for (label, count) in [
        ("recorded", after.recorded - before.recorded),
        ("already_known", after.already_known - before.already_known),
        ("unusable", after.unusable - before.unusable),
    ] {
        crate::observability::reconciled_sessions(&app.app_id, label, count);
    }
}

fn record_sweep(result: &Result<SweepReport, SweepError>) {
    use crate::observability;
    let outcome = match result {
        Ok(report) if report.ran => "done",
        Ok(_) => "skipped",
        Err(_) => "failed",
    };
    observability::reconciliation_sweep(outcome);
}

/// The periodic sweep `serve` runs while reconciliation is enabled and credentials are set.
pub async fn run_periodically(
    pool: PgPool,
    clients: AppClients,
    jobs: JobSpecs,
    settings: ReconcileSettings,
    database: DatabaseReadiness,
    shutdown: CancellationToken,
) {
    if !background::wait_for(&shutdown, database.wait_until_prepared()).await {
        return;
    }
    let lookback = Duration::from_secs(settings.lookback_hours.get().saturating_mul(3600));
    let artifact_checks = settings.artifact_checks_per_sweep;
    let stale_live_after = Duration::from_secs(settings.stale_live_hours.get().saturating_mul(3600));
    let (pool, clients, jobs) = (&pool, &clients, &jobs);
    background::every(&shutdown, settings.interval, || async move {
        let since = Utc::now() - lookback;
        let result = sweep(pool, clients, None, since, jobs, artifact_checks).await;
        record_sweep(&result);
        // The replica that swept checks the live sessions too; the others leave them to it.
        if let Ok(SweepReport { ran: true, .. }) = &result {
            match check_live_sessions(pool, clients, jobs, stale_live_after).await {
                Ok(live) if live.checked > 0 => tracing::info!(
                    checked = live.checked,
                    ended = live.ended,
                    still_live = live.still_live,
                    stale = live.stale,
                    "live sessions checked"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "checking live sessions failed; the next sweep retries"),
            }
        }
        match result {
            Ok(report) if report.ran => tracing::info!(
                listed = report.listed,
                recorded = report.recorded,
                already_known = report.already_known,
                unusable = report.unusable,
                recorded_for_artifacts = report.recorded_for_artifacts,
                sessions_checked_for_artifacts = report.sessions_checked_for_artifacts,
                artifacts_found = report.artifacts_found,
                "reconciliation sweep done"
            ),
            Ok(_) => tracing::debug!("another replica is sweeping; skipped"),
            Err(error) => {
                tracing::warn!(error = %error, "reconciliation sweep failed; the next one retries")
            }
        }
    })
    .await;
}
