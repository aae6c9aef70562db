//! What the service recorded, from a terminal: sessions, deliveries and follow-up jobs. Each command goes through
//! the same function as its API endpoint, so the filters, the checks and the words are the API's.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use sqlx::PgPool;

use super::output::{Table, instant, json_lines, next_page, or_dash, out};
use crate::config::Settings;
use crate::domain::artifact::AT_RISK_HOURS;
use crate::followups::Registry;
use crate::http::sessions::SessionDetails;
use crate::realtimekit::client::CallBudget;
use crate::store::followup_jobs::JobSpecs;
use crate::{http, reconcile, store};

/// How a list is printed and which page.
#[derive(Debug, Args)]
pub struct ListOptions {
    /// Page size, 1 to 500 [default: 50]
    #[arg(long)]
    limit: Option<String>,
    /// Where to start: the cursor printed after the previous page
    #[arg(long)]
    cursor: Option<String>,
    /// One JSON object per line (the API's objects) instead of a table
    #[arg(long)]
    json: bool,
}

/// The `GET /sessions` filters, as options.
#[derive(Debug, Args)]
pub struct SessionFilters {
    /// The sessions that started and have not ended instead, newest started first, with how many are in each now
    #[arg(long)]
    live: bool,
    /// With --live: only the stale ones (true) or only the others (false)
    #[arg(long, requires = "live")]
    stale: Option<String>,
    #[arg(long)]
    meeting_id: Option<String>,
    #[arg(long)]
    organization_id: Option<String>,
    /// Only this app's sessions (its app id)
    #[arg(long = "app", value_name = "APP_ID")]
    app_id: Option<String>,
    /// The end reason, e.g. HOST_ENDED_MEETING
    #[arg(long)]
    reason: Option<String>,
    /// RFC 3339, inclusive, e.g. 2026-06-01T00:00:00Z
    #[arg(long)]
    ended_after: Option<String>,
    /// RFC 3339, exclusive
    #[arg(long)]
    ended_before: Option<String>,
    /// true or false: with or without an announced recording
    #[arg(long)]
    has_recording: Option<String>,
    /// true or false: with or without an announced transcript
    #[arg(long)]
    has_transcript: Option<String>,
    /// true or false: with or without an announced summary
    #[arg(long)]
    has_summary: Option<String>,
    /// true or false: with or without an announced chat export
    #[arg(long)]
    has_chat: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List recorded sessions, newest ended first (or, with --live, the ones going on)
    List {
        #[command(flatten)]
        filters: Box<SessionFilters>,
        #[command(flatten)]
        list: ListOptions,
    },
    /// Show one session, its artifacts and its follow-ups
    Show {
        session_id: String,
        /// The API's JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Record the sessions that ended since a time and that no delivery brought (one reconciliation sweep)
    Backfill {
        /// RFC 3339, e.g. 2026-06-01T00:00:00Z
        #[arg(long)]
        since: String,
        /// Only this app (its app id); every configured app by default
        #[arg(long = "app", value_name = "APP_ID")]
        app_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, newest received first
    List {
        /// stored, duplicate, ignored or unprocessable
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        session_id: Option<String>,
        /// RFC 3339, inclusive
        #[arg(long)]
        received_after: Option<String>,
        /// RFC 3339, exclusive
        #[arg(long)]
        received_before: Option<String>,
        #[command(flatten)]
        list: ListOptions,
    },
    /// Show one delivery with its body (--raw: write the body alone, as kept)
    Show {
        id: String,
        #[arg(long)]
        raw: bool,
    },
    /// Classify a kept delivery again, and record its session if it is now usable
    Replay { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// List the artifacts not archived yet, soonest expiry first
    List {
        /// Only those whose source expires within --within-hours (default 48): the ones to act on
        #[arg(long)]
        at_risk: bool,
        #[arg(long, default_value_t = AT_RISK_HOURS, requires = "at_risk")]
        within_hours: u32,
        /// At most this many [default: 100]
        #[arg(long, default_value_t = 100)]
        limit: u16,
        /// One JSON object per line instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FollowupsCommand {
    /// List follow-up jobs, newest first
    List {
        /// queued, running, succeeded or dead
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        session_id: Option<String>,
        #[command(flatten)]
        list: ListOptions,
    },
    /// Bring a dead job back (or run a waiting one now)
    Retry { id: String },
    /// The follow-ups this configuration enables: kind, triggers and target (scheme and host only)
    Configured {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

pub async fn sessions(db: &PgPool, settings: &Settings, command: &SessionsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SessionsCommand::List { filters, list } => {
            let filters = filters.as_ref();
            let params = http::sessions::ListParams {
                status: None,
                stale: filters.stale.clone(),
                meeting_id: filters.meeting_id.clone(),
                organization_id: filters.organization_id.clone(),
                app_id: filters.app_id.clone(),
                reason: filters.reason.clone(),
                ended_after: filters.ended_after.clone(),
                ended_before: filters.ended_before.clone(),
                has_recording: filters.has_recording.clone(),
                has_transcript: filters.has_transcript.clone(),
                has_summary: filters.has_summary.clone(),
                has_chat: filters.has_chat.clone(),
                limit: list.limit.clone(),
                cursor: list.cursor.clone(),
            };
            if filters.live {
                let page = http::sessions::live_page(db, params).await?;
                if list.json {
                    json_lines(&page.data)?;
                } else {
                    let mut table = Table::new(&["STARTED", "SESSION", "MEETING", "IN NOW", "STALE SINCE"]);
                    for session in &page.data {
                        table.row(vec![
                            instant(session.started_at),
                            session.session_id.clone(),
                            session.meeting_id.clone(),
                            session.participants_now.to_string(),
                            session.stale_since.map_or("-".into(), instant),
                        ]);
                    }
                    table.print("no live sessions");
                }
                next_page(page.next_cursor.as_deref());
                return Ok(ExitCode::SUCCESS);
            }
            let page = http::sessions::list_page(db, params).await?;
            if list.json {
                json_lines(&page.data)?;
            } else {
                let mut table = Table::new(&["ENDED", "SESSION", "MEETING", "DURATION", "REASON", "SOURCE"]);
                for session in &page.data {
                    let ended = &session.ended;
                    table.row(vec![
                        instant(ended.ended_at),
                        ended.session_id.clone(),
                        ended.meeting_id.clone(),
                        ended.duration_seconds.map_or("-".into(), |s| format!("{s}s")),
                        or_dash(ended.reason.as_deref()),
                        session.source.as_str().to_owned(),
                    ]);
                }
                table.print("no sessions");
            }
            next_page(page.next_cursor.as_deref());
        }
        SessionsCommand::Show { session_id, json } => {
            let shown = match http::sessions::details(db, session_id).await? {
                SessionDetails::Ended(shown) => shown,
                SessionDetails::Live(live) => {
                    if *json {
                        out!("{}", serde_json::to_string_pretty(&live)?);
                    } else {
                        fields(&live.session)?;
                        out!("{:<19} live", "status");
                        out!("");
                        attendance_table(&live.participants);
                        livestreams_table(&live.livestreams);
                        artifacts_table(live.artifacts.all());
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            };
            if *json {
                out!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                fields(&shown.session)?;
                out!("");
                attendance_table(&shown.participants);
                livestreams_table(&shown.livestreams);
                artifacts_table(shown.artifacts.all());
                out!("");
                jobs_table(&shown.followups);
            }
        }
        SessionsCommand::Backfill { since, app_id } => {
            let since = chrono::DateTime::parse_from_rfc3339(since.trim())
                .map_err(|_| anyhow::anyhow!("--since must be an RFC 3339 timestamp such as 2026-06-01T00:00:00Z"))?
                .with_timezone(&chrono::Utc);
            // Shared with the replicas that serve: a backfill and their sweeps take from one budget.
            let budget = CallBudget::shared(db.clone(), &settings.realtimekit.limits);
            let clients = super::app_clients(settings)?.with_budget(budget);
            if let Some(app_id) = app_id {
                // The app must be one whose API can be called.
                super::app_client(&clients, Some(app_id))?;
            }
            let checks = settings.reconcile.artifact_checks_per_sweep;
            let jobs = job_specs(settings)?;
            let report = reconcile::sweep(db, &clients, app_id.as_deref(), since, &jobs, checks)
                .await
                .map_err(|error| match error {
                    reconcile::SweepError::Api(api) => super::explain(api),
                    other => other.into(),
                })?;
            if !report.ran {
                anyhow::bail!("another replica is sweeping right now; try again in a moment");
            }
            out!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn deliveries(db: &PgPool, settings: &Settings, command: &DeliveriesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeliveriesCommand::List {
            outcome,
            session_id,
            received_after,
            received_before,
            list,
        } => {
            let params = http::deliveries::ListParams {
                outcome: outcome.clone(),
                session_id: session_id.clone(),
                received_after: received_after.clone(),
                received_before: received_before.clone(),
                limit: list.limit.clone(),
                cursor: list.cursor.clone(),
            };
            let page = http::deliveries::list_page(db, params).await?;
            if list.json {
                json_lines(&page.data)?;
            } else {
                let mut table = Table::new(&["RECEIVED", "OUTCOME", "EVENT", "DELIVERY", "SESSION", "REASON"]);
                for d in &page.data {
                    table.row(vec![
                        instant(d.received_at),
                        d.outcome.as_str().to_owned(),
                        or_dash(d.event.as_deref()),
                        d.delivery_id.clone(),
                        or_dash(d.session_id.as_deref()),
                        d.reason.clone().unwrap_or_default(),
                    ]);
                }
                table.print("no deliveries");
            }
            next_page(page.next_cursor.as_deref());
        }
        DeliveriesCommand::Show { id, raw } => {
            let delivery = http::deliveries::stored(db, id).await?;
            if *raw {
                use std::io::Write;
                std::io::stdout().write_all(delivery.body.bytes())?;
            } else {
                let detail = http::deliveries::DeliveryDetail::from(delivery);
                out!("{}", serde_json::to_string_pretty(&detail)?);
            }
        }
        DeliveriesCommand::Replay { id } => {
            let apps = settings.realtimekit.apps();
            let replayed = http::deliveries::replay_one(db, id, &job_specs(settings)?, &apps).await?;
            out!("{}", serde_json::to_string(&replayed)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `followups configured`: read from the configuration alone (no database).
pub fn configured_followups(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let configured = Registry::from_settings(settings)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?
        .configured();
    if json {
        out!("{}", serde_json::to_string_pretty(&configured)?);
    } else {
        let mut table = Table::new(&["NAME", "KIND", "ON", "TARGET"]);
        for f in &configured {
            let on: Vec<&str> = f.on.iter().map(|t| t.as_str()).collect();
            table.row(vec![f.name.clone(), f.kind.to_string(), on.join(","), f.target.clone()]);
        }
        table.print("no follow-up is enabled");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn followups(db: &PgPool, command: &FollowupsCommand) -> anyhow::Result<ExitCode> {
    match command {
        // Answered from the configuration alone, before any database is opened (see `configured_followups`).
        FollowupsCommand::Configured { .. } => anyhow::bail!("`followups configured` needs no database"),
        FollowupsCommand::List {
            status,
            session_id,
            list,
        } => {
            let params = http::followups::ListParams {
                status: status.clone(),
                session_id: session_id.clone(),
                limit: list.limit.clone(),
                cursor: list.cursor.clone(),
            };
            let page = http::followups::list_page(db, params).await?;
            if list.json {
                json_lines(&page.data)?;
            } else {
                jobs_table(&page.data);
            }
            next_page(page.next_cursor.as_deref());
        }
        FollowupsCommand::Retry { id } => {
            let job = http::followups::retry_job(db, id).await?;
            out!(
                "job {} is queued again ({} of {} attempts used)",
                job.id,
                job.attempts,
                job.max_attempts
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The jobs a newly recorded session gets, as `serve` would queue them.
fn job_specs(settings: &Settings) -> anyhow::Result<JobSpecs> {
    let registry = Registry::from_settings(settings).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(registry.job_specs(settings.worker.max_attempts))
}

/// A record's fields, a line each.
fn fields(record: &impl Serialize) -> anyhow::Result<()> {
    let value = serde_json::to_value(record)?;
    for (key, value) in value.as_object().into_iter().flatten() {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        out!("{key:<19} {text}");
    }
    Ok(())
}

/// Who attended, when any participant event came; nothing otherwise.
fn attendance_table(attendance: &[store::attendance::Attendee]) {
    if attendance.is_empty() {
        return;
    }
    let mut table = Table::new(&["PEER", "NAME", "JOINED", "LEFT"]);
    for peer in attendance {
        table.row(vec![
            peer.peer_id.clone(),
            or_dash(peer.display_name.as_deref()),
            peer.joined_at.map_or("-".into(), instant),
            peer.left_at.map_or("-".into(), instant),
        ]);
    }
    table.print("");
    out!("");
}

/// The session's livestreams, when it had any.
fn livestreams_table(livestreams: &[store::livestreams::Livestream]) {
    if livestreams.is_empty() {
        return;
    }
    let mut table = Table::new(&["STREAM", "STATUS", "UPDATES", "PLAYBACK URL"]);
    for stream in livestreams {
        table.row(vec![
            stream.stream_id.clone(),
            stream.status.clone(),
            stream.transitions.len().to_string(),
            or_dash(stream.playback_url.as_deref()),
        ]);
    }
    table.print("");
    out!("");
}

fn jobs_table(jobs: &[crate::store::followup_jobs::Job]) {
    let mut table = Table::new(&[
        "ID",
        "STATUS",
        "FOLLOWUP",
        "TRIGGER",
        "ATTEMPTS",
        "SESSION",
        "RUN AT",
        "LAST ERROR",
    ]);
    for job in jobs {
        table.row(vec![
            job.id.to_string(),
            job.status.to_string(),
            job.followup.clone(),
            match job.subject.as_str() {
                "" => job.trigger.to_string(),
                subject => format!("{} {subject}", job.trigger),
            },
            format!("{}/{}", job.attempts, job.max_attempts),
            job.session_id.clone(),
            instant(job.run_at),
            job.last_error.clone().unwrap_or_default(),
        ]);
    }
    table.print("no follow-up jobs");
}

pub async fn artifacts(db: &PgPool, command: &ArtifactsCommand) -> anyhow::Result<ExitCode> {
    let ArtifactsCommand::List {
        at_risk,
        within_hours,
        limit,
        json,
    } = command;
    let within = at_risk.then(|| std::time::Duration::from_secs(u64::from(*within_hours) * 3600));
    let unarchived = store::artifacts::unarchived(db, within, i64::from(*limit)).await?;
    if *json {
        json_lines(&unarchived)?;
    } else {
        artifacts_table(unarchived.iter());
    }
    Ok(ExitCode::SUCCESS)
}

fn artifacts_table<'a>(artifacts: impl Iterator<Item = &'a store::artifacts::Artifact>) {
    let mut table = Table::new(&[
        "SESSION",
        "KIND",
        "RECORDING",
        "FILE",
        "STATE",
        "EXPIRES",
        "SIZE",
        "ERROR",
    ]);
    for artifact in artifacts {
        table.row(vec![
            artifact.session_id.clone(),
            artifact.kind.as_str().to_owned(),
            or_dash(artifact.recording_id.as_deref()),
            or_dash(artifact.file.as_deref()),
            artifact.state.as_str().to_owned(),
            artifact.expires_at.map_or("-".into(), instant),
            artifact.size_bytes.map_or("-".into(), |b| b.to_string()),
            or_dash(artifact.error.as_deref()),
        ]);
    }
    table.print("no artifacts");
}
