//! The command line: `serve` (the default), `migrate`, `healthcheck`, and the `dev` tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{ConfigFile, Settings};
use crate::dev::{self, SignedDelivery};
use crate::realtimekit::signature::WebhookSigner;
use crate::startup::{self, Application};
use crate::store::database;
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
    /// Exit 0 when the service answers ready (for container health checks)
    Healthcheck {
        /// The readiness URL [default: /readyz on the configured server.bind, via 127.0.0.1]
        url: Option<String>,
    },
    /// Tools for local trials
    #[command(subcommand)]
    Dev(DevCommand),
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
        self.config
            .clone()
            .map_or(ConfigFile::Default, ConfigFile::Named)
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
            let pool = database::lazy_pool(&settings.database)?;
            database::prepare(&settings.database, &pool).await?;
            tracing::info!("the database is created and migrated");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Healthcheck { url }) => {
            let url = match url {
                Some(url) => url.clone(),
                None => {
                    let settings = Settings::load(&cli.config_file())?;
                    let port = settings.bind_addr()?.port();
                    format!("http://127.0.0.1:{port}/readyz")
                }
            };
            healthcheck(&url).await
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
    let pem = std::fs::read_to_string(private_key)
        .with_context(|| format!("reading {}", private_key.display()))?;
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
