//! The RealtimeKit API from the command line: which app's client a command uses, how its failures read, and the
//! `webhooks` commands.

use std::process::ExitCode;

use clap::Subcommand;

use super::output::{Table, out};
use crate::config::Settings;
use crate::domain::App;
use crate::realtimekit::client::{ApiError, AppClients, NoClient, RealtimeKitClient, missing_credentials};
use crate::realtimekit::registration::{self, DesiredWebhook, RegistrationError};
use crate::store::database;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the app's webhooks (this service's is marked *)
    List {
        #[command(flatten)]
        app: AppOption,
    },
    /// Create, correct or move this service's webhook now (what `serve` does at start)
    Register {
        #[command(flatten)]
        app: AppOption,
    },
    /// Delete a webhook by id
    Delete {
        id: String,
        #[command(flatten)]
        app: AppOption,
    },
}

/// Which configured app a command calls Cloudflare for.
#[derive(Debug, clap::Args)]
pub struct AppOption {
    /// The app id; needed only when more than one app is configured
    #[arg(long = "app", value_name = "APP_ID")]
    pub app_id: Option<String>,
}

pub(super) fn app_clients(settings: &Settings) -> anyhow::Result<AppClients> {
    let missing = missing_credentials(&settings.realtimekit);
    if !missing.is_empty() {
        anyhow::bail!("this needs the RealtimeKit API: set {}", missing.join(", "));
    }
    AppClients::from_settings(&settings.realtimekit, reqwest::Client::new())
}

/// The client of the app `--app` names, or of the only app.
pub(super) fn app_client<'c>(
    clients: &'c AppClients,
    app_id: Option<&str>,
) -> anyhow::Result<(&'c App, &'c RealtimeKitClient)> {
    clients.for_app(app_id).map_err(|why| {
        let apps: Vec<&str> = clients.apps().iter().map(|a| a.app_id.as_str()).collect();
        match why {
            NoClient::WhichApp(_) | NoClient::NotConfigured(_) => {
                anyhow::anyhow!("{why}: pass --app with one of {}", apps.join(", "))
            }
            other => anyhow::anyhow!(other),
        }
    })
}

pub(super) async fn webhooks(settings: &Settings, command: &WebhooksCommand) -> anyhow::Result<ExitCode> {
    let clients = app_clients(settings)?;
    let (WebhooksCommand::List { app } | WebhooksCommand::Register { app } | WebhooksCommand::Delete { app, .. }) =
        command;
    let (app, client) = app_client(&clients, app.app_id.as_deref())?;
    match command {
        WebhooksCommand::List { .. } => {
            let ours = settings.webhook_url();
            let mut table = Table::new(&["", "ID", "NAME", "STATE", "EVENTS", "URL"]);
            for webhook in client.list_webhooks().await.map_err(explain)? {
                let mine = Some(&webhook.url) == ours.as_ref() || webhook.name == settings.registration.name;
                table.row(vec![
                    if mine { "*" } else { "" }.to_owned(),
                    webhook.id,
                    webhook.name,
                    if webhook.enabled { "enabled" } else { "disabled" }.to_owned(),
                    webhook.events.join(","),
                    webhook.url,
                ]);
            }
            table.print("no webhooks");
        }
        WebhooksCommand::Register { .. } => {
            let desired = DesiredWebhook::from_settings(settings).map_err(|reason| anyhow::anyhow!(reason))?;
            let pool = database::existing_pool(&settings.database).await?;
            let (webhook, action) = registration::register_once(&pool, &app.app_id, client, &desired)
                .await
                .map_err(|e| match e {
                    RegistrationError::Api(api) => explain(api),
                    other => other.into(),
                })?;
            out!("{} webhook {} -> {}", action.as_str(), webhook.id, webhook.url);
        }
        WebhooksCommand::Delete { id, .. } => {
            client.delete_webhook(id).await.map_err(explain)?;
            out!("deleted webhook {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An API failure as an operator needs to read it: the permission for an auth failure, Cloudflare's message (or the
/// transport error with its causes) otherwise.
pub(super) fn explain(error: ApiError) -> anyhow::Error {
    anyhow::anyhow!(error.describe())
}
