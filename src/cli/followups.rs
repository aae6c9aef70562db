//! `followups`: the jobs queued and run, a retry, and what the configuration enables.

use std::process::ExitCode;

use clap::Subcommand;
use sqlx::PgPool;

use super::output::{ListOptions, Table, in_flags, instant, json_lines, next_page, out};
use crate::config::Settings;
use crate::followups::Registry;
use crate::http;
use crate::store::followup_jobs::Job;
use crate::store::job_specs::JobSpecs;

#[derive(Debug, Subcommand)]
pub enum FollowupsCommand {
    /// List follow-up jobs, newest first
    List {
        /// dead, failing (queued after a failed attempt), due (queued and due now), queued, running or succeeded
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
            let page = http::followups::list_page(db, params)
                .await
                .map_err(|e| in_flags(e, &["status", "session_id", "limit", "cursor"]))?;
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
pub(super) fn job_specs(settings: &Settings) -> anyhow::Result<JobSpecs> {
    let registry = Registry::from_settings(settings).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(registry.job_specs(settings.worker.max_attempts))
}

pub(super) fn jobs_table(jobs: &[Job]) {
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
