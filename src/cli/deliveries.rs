//! `deliveries`: list, show and replay kept deliveries, through the same functions as `GET /deliveries`.

use std::process::ExitCode;

use clap::Subcommand;
use sqlx::PgPool;

use super::followups::job_specs;
use super::output::{ListOptions, Table, fields, in_flags, instant, json_lines, next_page, or_dash, out};
use crate::config::Settings;
use crate::domain::human;
use crate::http;
use crate::store::deliveries::Outcome;

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
    /// Show one delivery: its fields, then its body (JSON indented); --raw writes the body alone, as kept
    Show {
        id: String,
        #[arg(long, conflicts_with = "json")]
        raw: bool,
        /// The API's JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Classify a kept delivery again, and record its session if it is now usable; exits 1 when it is still
    /// unprocessable (or still of an app that is not configured)
    Replay {
        id: String,
        /// The API's JSON instead of text
        #[arg(long)]
        json: bool,
    },
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
            let page = http::deliveries::list_page(db, params).await.map_err(|e| {
                in_flags(
                    e,
                    &[
                        "outcome",
                        "session_id",
                        "received_after",
                        "received_before",
                        "limit",
                        "cursor",
                    ],
                )
            })?;
            if list.json {
                json_lines(&page.data)?;
            } else {
                let mut table = Table::new(&["RECEIVED", "OUTCOME", "EVENT", "DELIVERY", "SESSION", "SIZE", "REASON"]);
                for d in &page.data {
                    table.row(vec![
                        instant(d.received_at),
                        d.outcome.as_str().to_owned(),
                        or_dash(d.event.as_deref()),
                        d.delivery_id.clone(),
                        or_dash(d.session_id.as_deref()),
                        human::size(d.body_size_bytes),
                        d.reason.clone().unwrap_or_default(),
                    ]);
                }
                table.print("no deliveries");
            }
            next_page(page.next_cursor.as_deref());
        }
        DeliveriesCommand::Show { id, raw, json } => {
            let delivery = http::deliveries::stored(db, id).await?;
            if *raw {
                use std::io::Write;
                std::io::stdout().write_all(delivery.body.bytes())?;
                return Ok(ExitCode::SUCCESS);
            }
            let detail = http::deliveries::DeliveryDetail::from(delivery);
            if *json {
                out!("{}", serde_json::to_string_pretty(&detail)?);
                return Ok(ExitCode::SUCCESS);
            }
            fields(&detail.summary)?;
            out!("{:<19} {}", "body_kept_as", detail.body_kept_as);
            out!("");
            match detail.body_text.as_deref() {
                // JSON indented to be read; any other text as it is.
                Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value) => out!("{}", serde_json::to_string_pretty(&value)?),
                    Err(_) => out!("{text}"),
                },
                None => out!("(the body is not UTF-8 text: --raw writes its bytes)"),
            }
        }
        DeliveriesCommand::Replay { id, json } => {
            let apps = settings.realtimekit.apps();
            let replayed = http::deliveries::replay_one(db, id, &job_specs(settings)?, &apps).await?;
            if *json {
                out!("{}", serde_json::to_string(&replayed)?);
            } else {
                out!(
                    "{}: {} -> {}{}",
                    replayed.delivery_id,
                    replayed.previous_outcome.as_str(),
                    replayed.outcome.as_str(),
                    replayed
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
            // Still unusable (or still of an app that is not configured): the replay did not do what it was for.
            if matches!(replayed.outcome, Outcome::Unprocessable | Outcome::Foreign) {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
