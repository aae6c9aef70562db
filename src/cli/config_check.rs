//! `config check`: the configuration as the service would read it, checked, with every key's value and where it
//! came from. Secrets serialize redacted; a follow-up's options may hold secrets too, so only their names are shown.
//! Nothing is started and nothing is connected to.

use std::process::ExitCode;

use serde_json::Value;

use super::output::{Table, out};
use crate::config::{ConfigFile, Settings};
use crate::domain::delivery::{REALTIMEKIT_EVENTS, event_use};
use crate::followups::Registry;
use crate::realtimekit::public_key::VerificationKeys;

pub fn run(file: &ConfigFile) -> anyhow::Result<ExitCode> {
    let (settings, sources) = Settings::load_explained(file, std::env::vars())?;
    // The follow-ups' options and a pinned verification key are checked where they are used, as `serve` would.
    Registry::from_settings(&settings).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    VerificationKeys::from_settings(&settings.realtimekit, reqwest::Client::new())?;
    let mut table = Table::new(&["KEY", "VALUE", "FROM"]);
    let Value::Object(sections) = serde_json::to_value(&settings)? else {
        anyhow::bail!("the settings are not a table");
    };
    for (section, keys) in &sections {
        let entries: Vec<(String, &Value)> = match keys {
            Value::Object(keys) => keys.iter().map(|(k, v)| (format!("{section}.{k}"), v)).collect(),
            other => vec![(section.clone(), other)],
        };
        for (key, value) in entries {
            let from = sources.of(&key);
            table.row(vec![key, shown(value), from]);
        }
    }
    table.print("");
    out!("");
    let apps = settings.realtimekit.apps();
    if apps.is_empty() {
        out!(
            "apps: none configured, so deliveries of every RealtimeKit app are accepted (set realtimekit.app_id or [[realtimekit.apps]] to pin yours)"
        );
    } else {
        out!("apps (deliveries of any other app are kept as foreign, and nothing is done for them):");
        let mut apps_table = Table::new(&["APP", "NAME", "ACCOUNT", "API TOKEN"]);
        for app in apps.iter() {
            let token = if app.api_token.is_empty() { "missing" } else { "set" };
            let account = if app.account_id.is_empty() {
                "missing"
            } else {
                app.account_id.as_str()
            };
            apps_table.row(vec![
                app.app_id.clone(),
                app.name.clone().unwrap_or_else(|| "-".into()),
                account.to_owned(),
                token.to_owned(),
            ]);
        }
        apps_table.print("");
    }
    out!("");
    out!("registration subscribes each app's webhook to (registration.events):");
    let mut events_table = Table::new(&["EVENT", "SUBSCRIBED", "WHAT rtk-sessions DOES WITH IT"]);
    for event in REALTIMEKIT_EVENTS {
        let subscribed = settings.registration.events.iter().any(|e| e == event);
        let does = event_use(event).unwrap_or("nothing yet: kept as ignored");
        let subscribed = if subscribed { "yes" } else { "no" };
        events_table.row(vec![event.to_owned(), subscribed.to_owned(), does.to_owned()]);
    }
    events_table.print("");
    out!("");
    out!("read the {}", file.described());
    out!("the configuration is valid");
    Ok(ExitCode::SUCCESS)
}

/// Text without quotes, lists comma-separated; a `[[followups]]` entry as its kind and the names of its keys, an
/// `[[api.tokens]]` entry as its name and scope.
fn shown(value: &Value) -> String {
    let text = |value: &Value| value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let entry = |entry: &Value| match entry.as_object() {
        // An `api.tokens` entry: its name and scope (nothing of its secret).
        // A `realtimekit.apps` entry: its app id and name (its token is listed below the table as set or not).
        Some(keys) if keys.contains_key("app_id") => match keys.get("name").map(text).filter(|n| !n.is_empty()) {
            Some(name) => format!("{} ({name})", keys.get("app_id").map(text).unwrap_or_default()),
            None => keys.get("app_id").map(text).unwrap_or_default(),
        },
        Some(keys) if keys.contains_key("scope") => format!(
            "{} ({})",
            keys.get("name").map(text).unwrap_or_default(),
            keys.get("scope").map(text).unwrap_or_default()
        ),
        Some(keys) => {
            let names: Vec<&str> = keys.keys().map(String::as_str).collect();
            format!(
                "{} ({})",
                entry.get("kind").map(text).unwrap_or_default(),
                names.join(", ")
            )
        }
        None => text(entry),
    };
    match value {
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(entry).collect::<Vec<_>>().join(", "),
        other => text(other),
    }
}
