//! The command line: `serve` (the default) and `migrate`, which create and migrate the database; the commands an
//! operator runs from a terminal, which only use what exists; `config check`, `completions` and the `dev` tools.
//!
//! Every command exits 0 only when it did what was asked. Lists print a table with a header for people (or a line
//! saying there is nothing), or one JSON object per line with `--json` for scripts.

mod artifacts;
mod cloudflare;
mod config_check;
mod deliveries;
mod followups;
mod output;
mod sessions;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

use self::artifacts::ArtifactsCommand;
use self::cloudflare::{AppOption, WebhooksCommand, app_client, app_clients};
use self::deliveries::DeliveriesCommand;
use self::followups::FollowupsCommand;
use self::output::out;
use self::sessions::SessionsCommand;
use crate::config::{ConfigFile, Settings};
use crate::dev::{self, SignedDelivery};
use crate::domain;
use crate::domain::Scope;
use crate::realtimekit::end_meeting::end_meeting;
use crate::realtimekit::signature::WebhookSigner;
use crate::startup::{self, Application};
use crate::store::database;
use crate::telemetry::{self, Logging};

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
    /// Serve HTTP (the default); creates and migrates the database first
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
    /// Check the configuration without starting anything
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Recorded sessions
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Verified deliveries, as received
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// The follow-up job queue
    #[command(subcommand)]
    Followups(FollowupsCommand),
    /// Recordings, transcripts, summaries and chats: what is not archived yet, and what is at risk
    #[command(subcommand)]
    Artifacts(ArtifactsCommand),
    /// Manage the RealtimeKit webhook of this app
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Act on RealtimeKit meetings
    #[command(subcommand)]
    Meetings(MeetingsCommand),
    /// API and console tokens: the `[[api.tokens]]` entry to paste, holding only the token's SHA-256
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Print a completion script for a shell (e.g. `rtk-sessions completions bash > /etc/bash_completion.d/rtk`)
    Completions { shell: clap_complete::Shell },
    /// Tools for local trials
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the file and the environment, and print every key's value (secrets redacted) and where it came from
    Check,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Read a token on stdin and print its `[[api.tokens]]` entry (with its SHA-256, never the token)
    Hash {
        /// What logs and the console call the token
        #[arg(long, default_value = "operator")]
        name: String,
        /// `read` (every GET) or `operate` (also end meetings, retry, replay)
        #[arg(long, default_value = "read", value_parser = parse_scope)]
        scope: Scope,
    },
    /// Make a new random token: print it once (to stderr) and its `[[api.tokens]]` entry (to stdout)
    New {
        #[arg(long, default_value = "operator")]
        name: String,
        #[arg(long, default_value = "read", value_parser = parse_scope)]
        scope: Scope,
    },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum MeetingsCommand {
    /// End a meeting's active session for everyone
    End {
        meeting_id: String,
        /// First set the meeting INACTIVE, so nobody can rejoin or start a new session
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        app: AppOption,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Write an RSA-2048 key pair (PEM) to sign local deliveries with; keeps existing keys unless --force
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Write a new pair over keys already in DIR
        #[arg(long)]
        force: bool,
    },
    /// Sign and send one delivery the way RealtimeKit does, and print the answer
    Send {
        /// The receiver, e.g. http://localhost:8080 (the webhook path is added when missing)
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

    /// The settings, with logging set up for `logging`.
    fn settings(&self, logging: Logging) -> anyhow::Result<Settings> {
        let settings = Settings::load(&self.config_file())?;
        telemetry::init(&settings.log, logging);
        Ok(settings)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else {
        return serve(&cli).await;
    };
    match command {
        Command::Serve => serve(&cli).await,
        Command::Migrate => {
            let settings = cli.settings(Logging::Command)?;
            let pool = database::lazy_pool(&settings.database)?;
            database::prepare(&settings.database, &pool).await?;
            tracing::info!("the database is created and migrated");
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url, live } => {
            let url = match url {
                Some(url) => url.clone(),
                None => {
                    let settings = Settings::load(&cli.config_file())?;
                    let path = if *live { "/healthz" } else { "/readyz" };
                    format!("http://127.0.0.1:{}{path}", settings.server.bind.port())
                }
            };
            healthcheck(&url).await
        }
        Command::Config(ConfigCommand::Check) => config_check::run(&cli.config_file()),
        Command::Sessions(command) => {
            let (settings, db) = existing_database(&cli).await?;
            sessions::sessions(&db, &settings, command).await
        }
        Command::Deliveries(command) => {
            let (settings, db) = existing_database(&cli).await?;
            deliveries::deliveries(&db, &settings, command).await
        }
        Command::Followups(FollowupsCommand::Configured { json }) => {
            followups::configured_followups(&cli.settings(Logging::Command)?, *json)
        }
        Command::Followups(command) => followups::followups(&existing_database(&cli).await?.1, command).await,
        Command::Artifacts(command) => artifacts::artifacts(&existing_database(&cli).await?.1, command).await,
        Command::Webhooks(command) => cloudflare::webhooks(&cli.settings(Logging::Command)?, command).await,
        Command::Meetings(MeetingsCommand::End {
            meeting_id,
            disable,
            app,
        }) => {
            let settings = cli.settings(Logging::Command)?;
            let clients = app_clients(&settings)?;
            let (_, client) = app_client(&clients, app.app_id.as_deref())?;
            let ended = end_meeting(client, meeting_id, *disable).await?;
            out!("{}", serde_json::to_string(&ended)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens(TokensCommand::Hash { name, scope }) => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token from stdin")?;
            out!("{}", tokens::entry(name, *scope, token.trim_end_matches(['\r', '\n']))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens(TokensCommand::New { name, scope }) => {
            let token = tokens::generate();
            eprintln!("the token (shown once; give it to its holder): {token}");
            out!("{}", tokens::entry(name, *scope, &token)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            // Written whole, then sent: a reader that stops early (`| head -1`) closes the pipe, which ends the
            // command quietly instead of panicking in the middle of the script.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "rtk-sessions", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => return Err(error.into()),
                _ => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::Keygen { out, force }) => {
            let pair = dev::keygen(out, *force)?;
            let (private, public) = (&pair.private, &pair.public);
            if !pair.written {
                out!("the key pair is already there; kept it (--force writes a new one)");
            }
            out!("private key (signs deliveries): {}", private.display());
            out!("public key (verifies them): {}", public.display());
            out!(
                "pin it with: RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE={}",
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::Send {
            url,
            private_key,
            event,
            payload,
        }) => send(url, private_key, event, payload.as_deref()).await,
    }
}

async fn serve(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings(Logging::Service)?;
    tracing::info!("read the {}", cli.config_file().described());
    let application = Application::build(settings).await?;
    tokio::spawn(startup::cancel_on_signal(application.shutdown_token()));
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// The settings and a pool on the database as it is: these commands never create or migrate it.
async fn existing_database(cli: &Cli) -> anyhow::Result<(Settings, sqlx::PgPool)> {
    let settings = cli.settings(Logging::Command)?;
    let pool = database::existing_pool(&settings.database).await?;
    Ok((settings, pool))
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
            // The URL is said once, before the error and its causes ("connection refused").
            eprintln!("{url}: {:#}", anyhow::Error::new(error.without_url()));
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
    let signer = WebhookSigner::from_pem(&pem).with_context(|| format!("{}", private_key.display()))?;
    let body = match payload {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => dev::sample_body(event),
    };
    let delivery = SignedDelivery::new(&signer, body);
    let url = if url.ends_with(domain::WEBHOOK_PATH) || url.contains("/webhooks/") {
        url.to_owned()
    } else {
        format!("{}{}", url.trim_end_matches('/'), domain::WEBHOOK_PATH)
    };
    let response = delivery
        .request(&reqwest::Client::new(), &url)
        .send()
        .await
        .map_err(|error| anyhow::Error::new(error.without_url()).context(format!("POST {url}")))?;
    let status = response.status();
    out!("rtk-uuid: {}", delivery.delivery_id);
    out!("status: {status}");
    out!("{}", response.text().await.unwrap_or_default());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
