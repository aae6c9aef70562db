//! `sessions`: list, show and backfill recorded sessions, through the same functions as `GET /sessions`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use sqlx::PgPool;

use super::artifacts::artifacts_table;
use super::cloudflare::{app_client, app_clients, explain};
use super::followups::{job_specs, jobs_table};
use super::output::{ListOptions, Table, fields, in_flags, instant, json_lines, next_page, or_dash, out};
use crate::config::Settings;
use crate::domain::human;
use crate::http::sessions::SessionDetails;
use crate::realtimekit::client::CallBudget;
use crate::{http, reconcile, store};

/// The `GET /sessions` filters, as options.
#[derive(Debug, Args)]
pub struct SessionFilters {
    /// The sessions that started and have not ended instead, newest started first, with how many are in each now
    #[arg(long)]
    live: bool,
    /// With --live: only the stale ones (true) or only the others (false)
    #[arg(long, requires = "live")]
    stale: Option<String>,
    /// Words of the meeting's title, all of them found whatever their case: --title "board review"
    #[arg(long)]
    title: Option<String>,
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

/// The `GET /sessions` parameters the filters set; an error naming one names its flag.
const SESSION_PARAMETERS: &[&str] = &[
    "stale",
    "meeting_id",
    "organization_id",
    "app_id",
    "reason",
    "title",
    "ended_after",
    "ended_before",
    "has_recording",
    "has_transcript",
    "has_summary",
    "has_chat",
    "limit",
    "cursor",
];

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
                title: filters.title.clone(),
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
                let page = http::sessions::live_page(db, params)
                    .await
                    .map_err(|e| in_flags(e, SESSION_PARAMETERS))?;
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
            let page = http::sessions::list_page(db, params)
                .await
                .map_err(|e| in_flags(e, SESSION_PARAMETERS))?;
            if list.json {
                json_lines(&page.data)?;
            } else {
                let mut table = Table::new(&["ENDED", "SESSION", "TITLE", "MEETING", "DURATION", "REASON", "SOURCE"]);
                for session in &page.data {
                    let ended = &session.ended;
                    table.row(vec![
                        instant(ended.ended_at),
                        ended.session_id.clone(),
                        or_dash(ended.meeting_title.as_deref()),
                        ended.meeting_id.clone(),
                        ended.duration_seconds.map_or("-".into(), |s| human::duration(s as f64)),
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
            let clients = app_clients(settings)?.with_budget(budget);
            if let Some(app_id) = app_id {
                // The app must be one whose API can be called.
                app_client(&clients, Some(app_id))?;
            }
            let checks = settings.reconcile.artifact_checks_per_sweep;
            let jobs = job_specs(settings)?;
            let report = reconcile::sweep(db, &clients, app_id.as_deref(), since, &jobs, checks)
                .await
                .map_err(|error| match error {
                    reconcile::SweepError::Api(api) => explain(api),
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
