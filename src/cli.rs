//! The command line: `serve` (the default), `migrate`, `healthcheck`, and the `dev` tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{ConfigFile, Settings};
use crate::dev::{self, SignedDelivery};
use crate::followups::Registry;
use crate::realtimekit::client::{ApiError, RealtimeKitClient, missing_credentials};
use crate::realtimekit::end_meeting::end_meeting;
use crate::realtimekit::registration::{self, DesiredWebhook, RegistrationError};
use crate::realtimekit::signature::WebhookSigner;
use crate::reconcile;
use crate::startup::{self, Application};
use crate::store::database;
use crate::store::followup_jobs;
use crate::{http, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "rtk-sessions",
    version,
    about = "Receives Cloudflare RealtimeKit meeting.ended webhooks and serves /sessions"
)]
pub struct Cli {
    /// The configuration file [default: config.toml in the working directory, if present]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default)
    Serve,
    /// Create the database if it does not exist, apply the migrations, and exit
    Migrate,
    /// Exit 0 when the service answers ready (or, with --live, alive: for container health checks)
    Healthcheck {
        /// The URL to check [default: /readyz (or /healthz with --live) on the configured server.bind, via 127.0.0.1]
        url: Option<String>,
        /// Check liveness (/healthz) instead of readiness: a database outage does not make the process unhealthy
        #[arg(long)]
        live: bool,
    },
    /// Manage the RealtimeKit webhook of this app
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Act on RealtimeKit meetings
    #[command(subcommand)]
    Meetings(MeetingsCommand),
    /// Recorded sessions
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Verified deliveries, as received
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// The follow-up job queue
    #[command(subcommand)]
    Followups(FollowupsCommand),
    /// Tools for local trials
    #[command(subcommand)]
    Dev(DevCommand),
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
        #[arg(long, default_value_t = 50)]
        limit: u16,
    },
    /// Bring a dead job back (or run a waiting one now)
    Retry { id: i64 },
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
        /// 1 to 500
        #[arg(long, default_value_t = 50)]
        limit: u16,
        /// One JSON object per line instead of a table
        #[arg(long)]
        json: bool,
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
pub enum WebhooksCommand {
    /// List the app's webhooks
    List,
    /// Create, correct or move this service's webhook now (what `serve` does at start)
    Register,
    /// Delete a webhook by id
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum MeetingsCommand {
    /// End a meeting's active session for everyone
    End {
        meeting_id: String,
        /// First set the meeting INACTIVE, so nobody can rejoin or start a new session
        #[arg(long)]
        disable: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Record the sessions that ended since a time and that no delivery brought (one reconciliation sweep)
    Backfill {
        /// RFC 3339, e.g. 2026-06-01T00:00:00Z
        #[arg(long)]
        since: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Write an RSA-2048 key pair (PEM) to sign local deliveries with
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Sign and send one delivery the way RealtimeKit does, and print the answer
    Send {
        /// The receiver, e.g. http://localhost:8080/webhooks/realtimekit
        #[arg(long)]
        url: String,
        /// The private key written by `dev keygen`
        #[arg(long, value_name = "FILE")]
        private_key: PathBuf,
        #[arg(long, default_value = "meeting.ended")]
        event: String,
        /// Send this body as it is instead of a generated one
        #[arg(long, value_name = "FILE")]
        payload: Option<PathBuf>,
    },
}

impl Cli {
    fn config_file(&self) -> ConfigFile {
        self.config.clone().map_or(ConfigFile::Default, ConfigFile::Named)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        None | Some(Command::Serve) => {
            let settings = load(&cli)?;
            let application = Application::build(settings).await?;
            tokio::spawn(startup::cancel_on_signal(application.shutdown_token()));
            application.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Migrate) => {
            let settings = load(&cli)?;
            prepared_pool(&settings).await?;
            tracing::info!("the database is created and migrated");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Healthcheck { url, live }) => {
            let url = match url {
                Some(url) => url.clone(),
                None => {
                    let settings = Settings::load(&cli.config_file())?;
                    let port = settings.server.bind.port();
                    let path = if *live { "/healthz" } else { "/readyz" };
                    format!("http://127.0.0.1:{port}{path}")
                }
            };
            healthcheck(&url).await
        }
        Some(Command::Deliveries(command)) => deliveries(&cli, command).await,
        Some(Command::Webhooks(command)) => webhooks(&cli, command).await,
        Some(Command::Meetings(MeetingsCommand::End { meeting_id, disable })) => {
            let settings = load(&cli)?;
            let client = realtimekit_client(&settings)?;
            let ended = end_meeting(&client, meeting_id, *disable).await?;
            println!("{}", serde_json::to_string(&ended)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Sessions(SessionsCommand::Backfill { since })) => {
            let since = chrono::DateTime::parse_from_rfc3339(since)
                .map_err(|_| anyhow::anyhow!("--since must be an RFC 3339 timestamp such as 2026-06-01T00:00:00Z"))?
                .with_timezone(&chrono::Utc);
            let settings = load(&cli)?;
            let client = realtimekit_client(&settings)?;
            let pool = prepared_pool(&settings).await?;
            let registry = Registry::from_settings(&settings).map_err(|e| anyhow::anyhow!(e))?;
            let jobs = registry.job_specs(settings.worker.max_attempts);
            let report = reconcile::sweep(&pool, &client, since, &jobs).await?;
            if !report.ran {
                anyhow::bail!("another replica is sweeping right now; try again in a moment");
            }
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Followups(command)) => {
            let settings = load(&cli)?;
            let pool = prepared_pool(&settings).await?;
            match command {
                FollowupsCommand::List {
                    status,
                    session_id,
                    limit,
                } => {
                    let filter = followup_jobs::JobFilter {
                        status: status.as_deref().map(followup_jobs::JobStatus::parse).transpose()?,
                        session_id: session_id.clone(),
                    };
                    let (jobs, _) = followup_jobs::list(&pool, &filter, None, (*limit).clamp(1, 500)).await?;
                    for job in jobs {
                        println!(
                            "{:>8}  {:<10} {:<20} {:>2}/{:<2}  {}  {}  {}",
                            job.id,
                            job.status,
                            job.followup,
                            job.attempts,
                            job.max_attempts,
                            job.session_id,
                            job.run_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            job.last_error.unwrap_or_default()
                        );
                    }
                }
                FollowupsCommand::Retry { id } => {
                    let job = followup_jobs::retry(&pool, *id).await?;
                    println!(
                        "job {} is queued again ({} of {} attempts used)",
                        job.id, job.attempts, job.max_attempts
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Dev(DevCommand::Keygen { out })) => {
            let (private, public) = dev::keygen(out)?;
            println!("private key (signs deliveries): {}", private.display());
            println!("public key (pin it in the service): {}", public.display());
            println!(
                "pin it with: RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE={}",
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Dev(DevCommand::Send {
            url,
            private_key,
            event,
            payload,
        })) => send(url, private_key, event, payload.as_deref()).await,
    }
}

async fn deliveries(cli: &Cli, command: &DeliveriesCommand) -> anyhow::Result<ExitCode> {
    use crate::store::deliveries::{self, DeliveryFilter, Outcome, StoredBody};
    let settings = load(cli)?;
    let pool = prepared_pool(&settings).await?;
    match command {
        DeliveriesCommand::List {
            outcome,
            session_id,
            received_after,
            received_before,
            limit,
            json,
        } => {
            let timestamp = |name: &str, value: &Option<String>| -> anyhow::Result<_> {
                value
                    .as_deref()
                    .map(|text| {
                        chrono::DateTime::parse_from_rfc3339(text)
                            .map(|t| t.with_timezone(&chrono::Utc))
                            .map_err(|_| {
                                anyhow::anyhow!("--{name} must be an RFC 3339 timestamp such as 2026-06-03T10:30:00Z")
                            })
                    })
                    .transpose()
            };
            if !(1..=500).contains(limit) {
                anyhow::bail!("--limit must be a whole number from 1 to 500");
            }
            let filter = DeliveryFilter {
                outcome: outcome.as_deref().map(Outcome::parse).transpose()?,
                session_id: session_id.clone(),
                received_after: timestamp("received-after", received_after)?,
                received_before: timestamp("received-before", received_before)?,
            };
            let page = deliveries::list(&pool, &filter, None, *limit).await?;
            if *json {
                for delivery in &page.deliveries {
                    println!("{}", serde_json::to_string(delivery)?);
                }
            } else if page.deliveries.is_empty() {
                println!("no deliveries");
            } else {
                println!(
                    "{:<20}  {:<13}  {:<22}  {:<38}  {:<38}  REASON",
                    "RECEIVED", "OUTCOME", "EVENT", "DELIVERY", "SESSION"
                );
                for d in &page.deliveries {
                    println!(
                        "{:<20}  {:<13}  {:<22}  {:<38}  {:<38}  {}",
                        d.received_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        d.outcome.as_str(),
                        d.event.as_deref().unwrap_or("-"),
                        d.delivery_id,
                        d.session_id.as_deref().unwrap_or("-"),
                        d.reason.as_deref().unwrap_or("")
                    );
                }
            }
        }
        DeliveriesCommand::Show { id, raw } => {
            let delivery = deliveries::get(&pool, id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no delivery with id {id:?} is recorded"))?;
            if *raw {
                use std::io::Write;
                std::io::stdout().write_all(delivery.body.bytes())?;
            } else {
                let mut shown = serde_json::to_value(&delivery.summary)?;
                let (kept_as, text) = match &delivery.body {
                    StoredBody::Json(text) => ("json", Some(text.clone())),
                    StoredBody::Bytes(bytes) => ("bytes", String::from_utf8(bytes.clone()).ok()),
                };
                shown["body_kept_as"] = kept_as.into();
                shown["body_text"] = text.into();
                println!("{}", serde_json::to_string_pretty(&shown)?);
            }
        }
        DeliveriesCommand::Replay { id } => {
            let registry = Registry::from_settings(&settings).map_err(|e| anyhow::anyhow!(e))?;
            let jobs = registry.job_specs(settings.worker.max_attempts);
            let replayed = deliveries::replay(&pool, id, &jobs)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no delivery with id {id:?} is recorded"))?;
            println!("{}", serde_json::to_string(&replayed)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn prepared_pool(settings: &Settings) -> anyhow::Result<sqlx::PgPool> {
    let pool = database::lazy_pool(&settings.database)?;
    database::prepare(&settings.database, &pool).await?;
    Ok(pool)
}

fn realtimekit_client(settings: &Settings) -> anyhow::Result<RealtimeKitClient> {
    RealtimeKitClient::from_settings(&settings.realtimekit, reqwest::Client::new())?
        .ok_or_else(|| anyhow::anyhow!("set {}", missing_credentials(&settings.realtimekit).join(", ")))
}

async fn webhooks(cli: &Cli, command: &WebhooksCommand) -> anyhow::Result<ExitCode> {
    let settings = load(cli)?;
    let client = realtimekit_client(&settings)?;
    match command {
        WebhooksCommand::List => {
            let ours = settings.webhook_url();
            for webhook in client.list_webhooks().await.map_err(explain)? {
                let mark = if Some(&webhook.url) == ours.as_ref() || webhook.name == settings.registration.name {
                    "*"
                } else {
                    " "
                };
                println!(
                    "{mark} {}  {:<20} {:<8} {:<40} {}",
                    webhook.id,
                    webhook.name,
                    if webhook.enabled { "enabled" } else { "disabled" },
                    webhook.events.join(","),
                    webhook.url
                );
            }
        }
        WebhooksCommand::Register => {
            let desired = DesiredWebhook::from_settings(&settings).map_err(|reason| anyhow::anyhow!(reason))?;
            let pool = prepared_pool(&settings).await?;
            let (webhook, action) =
                registration::register_once(&pool, &client, &desired)
                    .await
                    .map_err(|e| match e {
                        RegistrationError::Api(api) => explain(api),
                        other => other.into(),
                    })?;
            println!("{} webhook {} -> {}", action.as_str(), webhook.id, webhook.url);
        }
        WebhooksCommand::Delete { id } => {
            client.delete_webhook(id).await.map_err(explain)?;
            println!("deleted webhook {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An API failure as an operator needs to read it: the permission for an auth failure, Cloudflare's message otherwise.
fn explain(error: ApiError) -> anyhow::Error {
    anyhow::anyhow!(error.describe())
}

fn load(cli: &Cli) -> anyhow::Result<Settings> {
    let settings = Settings::load(&cli.config_file())?;
    telemetry::init(&settings.log);
    Ok(settings)
}

async fn healthcheck(url: &str) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            eprintln!(
                "{url} answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(error) => {
            eprintln!("{url}: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn send(
    url: &str,
    private_key: &std::path::Path,
    event: &str,
    payload: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let pem = std::fs::read_to_string(private_key).with_context(|| format!("reading {}", private_key.display()))?;
    let signer = WebhookSigner::from_pem(&pem)?;
    let body = match payload {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => dev::sample_body(event),
    };
    let delivery = SignedDelivery::new(&signer, body);
    let url = if url.ends_with(http::WEBHOOK_PATH) || url.contains("/webhooks/") {
        url.to_owned()
    } else {
        format!("{}{}", url.trim_end_matches('/'), http::WEBHOOK_PATH)
    };
    let response = delivery
        .request(&reqwest::Client::new(), &url)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    println!("rtk-uuid: {}", delivery.delivery_id);
    println!("status: {status}");
    println!("{}", response.text().await.unwrap_or_default());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
