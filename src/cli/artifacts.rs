//! `artifacts`: the files RealtimeKit announced and the archive has not kept yet.

use std::process::ExitCode;

use clap::Subcommand;
use sqlx::PgPool;

use super::output::{Table, instant, json_lines, or_dash};
use crate::domain::artifact::AT_RISK_HOURS;
use crate::domain::human;
use crate::store;

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

pub async fn artifacts(db: &PgPool, command: &ArtifactsCommand) -> anyhow::Result<ExitCode> {
    let ArtifactsCommand::List {
        at_risk,
        within_hours,
        limit,
        json,
    } = command;
    let within = at_risk.then(|| std::time::Duration::from_secs(u64::from(*within_hours) * 3600));
    let unarchived = store::artifacts::unarchived(db, within, None, i64::from(*limit)).await?;
    if *json {
        json_lines(&unarchived)?;
    } else {
        artifacts_table(unarchived.iter());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn artifacts_table<'a>(artifacts: impl Iterator<Item = &'a store::artifacts::Artifact>) {
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
            artifact.size_bytes.map_or("-".into(), human::size),
            or_dash(artifact.error.as_deref()),
        ]);
    }
    table.print("no artifacts");
}
