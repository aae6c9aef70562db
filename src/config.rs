//! Typed configuration: defaults < `config.toml` < environment.
//!
//! Every key can be overridden with `RTK_SESSIONS__SECTION__KEY`; the conventional `DATABASE_URL` and
//! `CLOUDFLARE_API_TOKEN` are honoured too. Everything is validated here, once, so that the rest of the
//! service only ever sees usable values, and an invalid value stops the start with a message naming its key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Format, Toml};
use figment::value::Value;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::postgres::PgConnectOptions;

use crate::domain::job::FollowupKind;

/// The prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "RTK_SESSIONS__";

/// A value that must never reach a log line or an error body.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call it only where the value is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub realtimekit: RealtimeKitSettings,
    pub api: ApiSettings,
    pub registration: RegistrationSettings,
    pub reconcile: ReconcileSettings,
    pub ingest: IngestSettings,
    pub worker: WorkerSettings,
    pub retention: RetentionSettings,
    /// The follow-up work run for every newly recorded session, in `[[followups]]` entries (none by default).
    #[serde(default)]
    pub followups: Vec<FollowupSettings>,
    pub log: LogSettings,
}

/// The defaults, in one place: `config.toml` at the root of the repository, which lists every key with a comment. It
/// is the first layer of every load, so a file of one's own needs only the keys it changes.
pub const DEFAULTS: &str = include_str!("../config.toml");

impl Default for Settings {
    fn default() -> Self {
        Figment::from(Toml::string(DEFAULTS)).extract().expect(
            "config.toml holds every key, with a valid value (checked by config_toml_lists_every_key_with_its_default)",
        )
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Settings::default().worker
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Settings::default().log
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    /// Where RealtimeKit reaches us, e.g. `https://sessions.example.com`. Empty when not yet public.
    pub public_url: String,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Requests handled at once; past it, requests are answered 503 at once (load shedding).
    pub max_in_flight: usize,
    /// A connection that does not send a complete request head within this time is closed (slow or idle
    /// clients cannot hold connections open).
    pub header_read_timeout_secs: u64,
    /// A keep-alive connection with no request in flight is closed after this long.
    pub idle_timeout_secs: u64,
    /// A request body must arrive whole within this time once its head has (a RealtimeKit payload is a few KB).
    pub body_read_timeout_secs: u64,
    /// Open connections at most; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Serve `/metrics` without a token on this separate address (an internal network); empty: only on the main
    /// port, behind the API token.
    pub metrics_bind: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    /// How long a request waits for a free connection before it is answered 503.
    pub acquire_timeout_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeKitSettings {
    pub account_id: String,
    pub app_id: String,
    pub api_token: Secret,
    pub api_base: String,
    pub public_key_url: String,
    /// Pins the verification key (PEM); when set, nothing is fetched.
    pub public_key_pem: String,
    /// The same, read from a PEM file.
    pub public_key_file: String,
    /// The least time between two fetches of the public key (a failed signature triggers a refetch).
    pub public_key_refetch_interval_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer tokens that may read `/sessions`. From the environment, a comma-separated list works too.
    #[serde(deserialize_with = "tokens_from_list_or_csv")]
    pub tokens: Vec<Secret>,
}

/// The events RealtimeKit can send; a webhook may subscribe to any of them.
pub const REALTIMEKIT_EVENTS: [&str; 9] = [
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
];

/// Keeping the Cloudflare side's webhook in line with this service: created, corrected or moved at start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    /// Also needs realtimekit.account_id, app_id, api_token and server.public_url.
    pub enabled: bool,
    /// The webhook's name: how this service recognises its own webhook.
    pub name: String,
    #[serde(deserialize_with = "strings_from_list_or_csv")]
    pub events: Vec<String>,
}

/// The periodic sweep that records ended sessions whose delivery never came.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Also needs realtimekit.account_id, app_id and api_token.
    pub enabled: bool,
    pub interval_secs: u64,
    /// How far back each sweep looks for ended sessions.
    pub lookback_hours: u64,
}

/// How long delivery rows are kept. Sessions are kept for good.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Delivery rows older than this many days are removed by an hourly sweep; 0 keeps them for good.
    pub deliveries_days: u32,
    /// The same for `unprocessable` deliveries, which wait for an operator to look at them or replay them; 0 (the
    /// default) keeps them for good.
    pub unprocessable_days: u32,
}

/// How deliveries are written: group commit gathers concurrent deliveries into one transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// The most deliveries one transaction acknowledges; 1 writes each delivery in its own transaction.
    pub batch_max: usize,
    /// How long a writer waits for more deliveries once it has one; 0 takes only what is already queued.
    pub batch_window_micros: u64,
    /// Batches written at once (each holds one database connection while it writes).
    pub writers: usize,
    /// Deliveries that may wait for a writer; past it, requests wait (and time out with a 503).
    pub queue_capacity: usize,
}

/// The follow-up worker pool that runs inside `serve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// False: this replica only serves HTTP (jobs are still queued, for the replicas that work).
    pub enabled: bool,
    /// Jobs run at once by this replica.
    pub concurrency: usize,
    /// Attempts before a job is `dead`.
    pub max_attempts: u32,
    pub backoff_initial_secs: u64,
    pub backoff_max_secs: u64,
    /// How long a claimed job belongs to its worker; past it, another worker may take the job over.
    pub lease_secs: u64,
    /// Each attempt is cancelled after this long; must be shorter than the lease.
    pub attempt_timeout_secs: u64,
    /// Due jobs are also looked for this often, besides the LISTEN/NOTIFY wake-ups.
    pub poll_interval_secs: u64,
}

/// One `[[followups]]` entry: `kind`, optional `name` and `enabled`, and the kind's own options.
#[derive(Clone, Serialize, Deserialize)]
pub struct FollowupSettings {
    pub kind: FollowupKind,
    /// Tells two follow-ups of one kind apart in the API and the logs; defaults to the kind.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The kind's own options (`url`, `secret`, ...), checked by the follow-up itself.
    #[serde(flatten)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

fn enabled_by_default() -> bool {
    true
}

impl FollowupSettings {
    pub fn name(&self) -> &str {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(self.kind.as_str())
    }
}

impl fmt::Debug for FollowupSettings {
    /// Options may hold secrets: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowupSettings")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `rtk_sessions=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

fn tokens_from_list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    Ok(strings_from_list_or_csv(deserializer)?
        .into_iter()
        .map(Secret)
        .collect())
}

/// A list of strings from a TOML array, or from one string as an environment variable gives it: `a,b`, `[a, b]` or
/// `["a", "b"]`. Blank items are dropped.
fn strings_from_list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    let items = match ListOrCsv::deserialize(deserializer)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => csv
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

/// Where the configuration file comes from.
#[derive(Clone, Debug)]
pub enum ConfigFile {
    /// `config.toml` in the working directory; fine when missing.
    Default,
    /// A file named on the command line; an error when missing.
    Named(PathBuf),
}

impl Settings {
    /// Loads defaults, then the file, then the process environment, and validates the result.
    pub fn load(file: &ConfigFile) -> anyhow::Result<Self> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests use this).
    pub fn load_with_env(file: &ConfigFile, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let path: &Path = match file {
            ConfigFile::Default => Path::new("config.toml"),
            ConfigFile::Named(path) => {
                if !path.is_file() {
                    bail!("configuration file {} does not exist", path.display());
                }
                path
            }
        };
        let figment = Figment::from(Toml::string(DEFAULTS))
            .merge(Toml::file(path))
            .merge(Environment::from_vars(env));
        let settings: Settings = figment
            .extract_lossy()
            .map_err(|error| anyhow::anyhow!("invalid configuration: {}", describe_figment_error(error)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let invalid = |key: &str, why: String| anyhow::anyhow!("invalid configuration: {key}: {why}");

        self.bind_addr().map_err(|e| invalid("server.bind", e.to_string()))?;
        if !self.server.public_url.is_empty() {
            let url = reqwest::Url::parse(&self.server.public_url)
                .map_err(|e| invalid("server.public_url", format!("not a URL ({e})")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(invalid(
                    "server.public_url",
                    "must start with https:// or http://".into(),
                ));
            }
        }
        if self.server.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "must be greater than 0".into()));
        }
        if self.server.header_read_timeout_secs == 0 {
            return Err(invalid(
                "server.header_read_timeout_secs",
                "must be greater than 0".into(),
            ));
        }
        for (key, value) in [
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            ("server.body_read_timeout_secs", self.server.body_read_timeout_secs),
            ("server.max_connections", self.server.max_connections as u64),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".into()));
            }
        }
        if self.server.max_in_flight == 0 {
            return Err(invalid("server.max_in_flight", "must be greater than 0".into()));
        }
        if !self.server.metrics_bind.is_empty() {
            self.server
                .metrics_bind
                .parse::<SocketAddr>()
                .map_err(|e| invalid("server.metrics_bind", format!("{e} (an address such as 0.0.0.0:9090)")))?;
        }
        if self.server.request_timeout_secs == 0 {
            return Err(invalid("server.request_timeout_secs", "must be greater than 0".into()));
        }
        let url = self.database.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must start with postgres:// or postgresql://".into(),
            ));
        }
        PgConnectOptions::from_str(url).map_err(|_| {
            // The URL may hold a password: say what is wrong without echoing it.
            invalid("database.url", "not a valid postgres:// connection URL".into())
        })?;
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1".into()));
        }
        if self.database.acquire_timeout_secs == 0 {
            return Err(invalid(
                "database.acquire_timeout_secs",
                "must be greater than 0".into(),
            ));
        }
        for (key, value) in [
            ("realtimekit.api_base", &self.realtimekit.api_base),
            ("realtimekit.public_key_url", &self.realtimekit.public_key_url),
        ] {
            reqwest::Url::parse(value).map_err(|e| invalid(key, format!("not a URL ({e})")))?;
        }
        if !self.realtimekit.public_key_pem.is_empty() && !self.realtimekit.public_key_file.is_empty() {
            return Err(invalid(
                "realtimekit.public_key_pem",
                "set either public_key_pem or public_key_file, not both".into(),
            ));
        }
        if !self.realtimekit.public_key_pem.is_empty() {
            check_public_key_pem(&self.realtimekit.public_key_pem)
                .map_err(|e| invalid("realtimekit.public_key_pem", e))?;
        }
        if self.registration.name.trim().is_empty() {
            return Err(invalid("registration.name", "must not be empty".into()));
        }
        if self.registration.events.is_empty() {
            return Err(invalid("registration.events", "must list at least one event".into()));
        }
        if let Some(unknown) = self
            .registration
            .events
            .iter()
            .find(|e| !REALTIMEKIT_EVENTS.contains(&e.as_str()))
        {
            return Err(invalid(
                "registration.events",
                format!(
                    "{unknown:?} is not a RealtimeKit event (one of {})",
                    REALTIMEKIT_EVENTS.join(", ")
                ),
            ));
        }
        if self.reconcile.interval_secs == 0 {
            return Err(invalid("reconcile.interval_secs", "must be greater than 0".into()));
        }
        if self.reconcile.lookback_hours == 0 {
            return Err(invalid("reconcile.lookback_hours", "must be greater than 0".into()));
        }
        for (key, value) in [
            ("ingest.batch_max", self.ingest.batch_max),
            ("ingest.writers", self.ingest.writers),
            ("ingest.queue_capacity", self.ingest.queue_capacity),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".into()));
            }
        }
        if self.ingest.batch_max > 1000 {
            return Err(invalid("ingest.batch_max", "must be at most 1000".into()));
        }
        if self.ingest.writers as u32 >= self.database.max_connections {
            return Err(invalid(
                "ingest.writers",
                "must be below database.max_connections, which the API and the follow-ups share".into(),
            ));
        }
        let worker = &self.worker;
        for (key, value) in [
            ("worker.concurrency", worker.concurrency as u64),
            ("worker.max_attempts", u64::from(worker.max_attempts)),
            ("worker.backoff_initial_secs", worker.backoff_initial_secs),
            ("worker.lease_secs", worker.lease_secs),
            ("worker.attempt_timeout_secs", worker.attempt_timeout_secs),
            ("worker.poll_interval_secs", worker.poll_interval_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".into()));
            }
        }
        if worker.backoff_max_secs < worker.backoff_initial_secs {
            return Err(invalid(
                "worker.backoff_max_secs",
                "must be at least worker.backoff_initial_secs".into(),
            ));
        }
        if worker.attempt_timeout_secs >= worker.lease_secs {
            return Err(invalid(
                "worker.attempt_timeout_secs",
                "must be shorter than worker.lease_secs, so a live worker never outlasts its lease".into(),
            ));
        }
        // The `[[followups]]` entries' own options are checked where they are built (`followups::Registry`).
        Ok(())
    }

    /// The URL RealtimeKit delivers to: `server.public_url` + `/webhooks/realtimekit`; `None` without a public URL.
    pub fn webhook_url(&self) -> Option<String> {
        let base = self.server.public_url.trim().trim_end_matches('/');
        (!base.is_empty()).then(|| format!("{base}{}", crate::domain::WEBHOOK_PATH))
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .bind
            .parse()
            .with_context(|| format!("{:?} is not an address such as 0.0.0.0:8080", self.server.bind))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.server.request_timeout_secs)
    }
}

/// The environment as a figment provider: `RTK_SESSIONS__SECTION__KEY` for any key, and the conventional
/// `DATABASE_URL` and `CLOUDFLARE_API_TOKEN` (the prefixed form wins). Values stay text: figment's own `Env` provider
/// would read a token such as `0042` as the number 42, and `extract_lossy` already turns text into a number or a
/// boolean where a key wants one. Errors name the variable.
struct Environment {
    values: figment::value::Dict,
}

/// Names of the conventional variables, and the keys they set.
const ALIASES: [(&str, &str); 2] = [
    ("DATABASE_URL", "database.url"),
    ("CLOUDFLARE_API_TOKEN", "realtimekit.api_token"),
];

impl Environment {
    fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut values = figment::value::Dict::new();
        let aliased = ALIASES.iter().filter_map(|(name, key)| {
            let (_, value) = vars.iter().find(|(var, value)| var == name && !value.is_empty())?;
            Some((key.to_string(), value))
        });
        let prefixed = vars.iter().filter_map(|(var, value)| {
            let key = var.strip_prefix(ENV_PREFIX)?;
            Some((key.to_lowercase().replace("__", "."), value))
        });
        // Aliases first, so that the prefixed form overwrites them.
        for (key, value) in aliased.chain(prefixed) {
            insert(&mut values, &key, Value::from(value.clone()));
        }
        Self { values }
    }
}

/// Sets `a.b.c` in nested dictionaries.
fn insert(dict: &mut figment::value::Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(figment::value::Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(figment::value::Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

impl figment::Provider for Environment {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("the environment").interpolater(|_, keys| {
            let variable = format!("{ENV_PREFIX}{}", keys.join("__").to_uppercase());
            match ALIASES.iter().find(|(_, key)| key.split('.').eq(keys.iter().copied())) {
                Some((alias, _)) => format!("{variable} (or {alias})"),
                None => variable,
            }
        })
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.values.clone()))
    }
}

/// A PEM document labelled as a public key; the key itself is parsed where it is used (`realtimekit`).
fn check_public_key_pem(text: &str) -> Result<(), String> {
    let normalised = text.trim().replace("\\n", "\n");
    let document = pem::parse(normalised.as_bytes()).map_err(|_| "not a PEM document".to_owned())?;
    match document.tag() {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Ok(()),
        other => Err(format!("a PEM {other:?}, not a PUBLIC KEY")),
    }
}

/// Each problem once: the key, what is wrong, and where the value came from (the file, or the variable).
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let mut text = if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("{key}: {}", e.kind)
            };
            if let Some(metadata) = &e.metadata {
                let origin = match &metadata.source {
                    Some(source) if metadata.name != "the environment" => source.to_string(),
                    _ if !e.path.is_empty() => metadata.interpolate(&figment::Profile::Default, &e.path),
                    _ => metadata.name.to_string(),
                };
                text = format!("{text} (from {origin})");
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load_with_env(&ConfigFile::Named(PathBuf::from("config.toml")), env)
    }

    #[test]
    fn config_toml_lists_every_key_with_its_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
        let file: serde_json::Value = Figment::from(Toml::file(path)).extract().expect("config.toml parses");
        let mut defaults = serde_json::to_value(Settings::default()).expect("the defaults serialise");
        // `[[followups]]` entries are examples there, commented out: there are none by default.
        if let Some(sections) = defaults.as_object_mut() {
            sections.remove("followups");
        }
        assert_eq!(file, defaults, "config.toml and Settings::default() disagree");
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let s = Settings::default();
        assert_eq!(s.server.bind, "0.0.0.0:8080");
        assert_eq!(s.server.body_limit_bytes, 262_144);
        assert_eq!(s.server.request_timeout_secs, 10);
        assert_eq!(s.database.max_connections, 16);
        assert!(s.api.tokens.is_empty());
    }

    #[test]
    fn environment_overrides_the_file_and_conventional_variables_are_honoured() {
        let s = load(&[
            ("RTK_SESSIONS__SERVER__BIND", "127.0.0.1:9999"),
            ("DATABASE_URL", "postgres://u@db:5432/x"),
            ("CLOUDFLARE_API_TOKEN", "cf-token"),
            ("RTK_SESSIONS__API__TOKENS", "one, two"),
            ("RTK_SESSIONS__DATABASE__MAX_CONNECTIONS", "4"),
            ("RTK_SESSIONS__REALTIMEKIT__ACCOUNT_ID", "0012"),
        ])
        .expect("valid configuration");
        assert_eq!(s.database.max_connections, 4);
        assert_eq!(s.realtimekit.account_id, "0012");
        assert_eq!(s.server.bind, "127.0.0.1:9999");
        assert_eq!(s.database.url.expose(), "postgres://u@db:5432/x");
        assert_eq!(s.realtimekit.api_token.expose(), "cf-token");
        assert_eq!(s.api.tokens, vec![Secret::new("one"), Secret::new("two")]);
    }

    #[test]
    fn tokens_may_be_written_as_a_toml_array_in_the_environment() {
        let s = load(&[("RTK_SESSIONS__API__TOKENS", r#"["one", "0042"]"#)]).expect("valid configuration");
        assert_eq!(s.api.tokens, vec![Secret::new("one"), Secret::new("0042")]);
    }

    #[test]
    fn numeric_looking_tokens_stay_text() {
        let s = load(&[("RTK_SESSIONS__API__TOKENS", "0042")]).expect("valid configuration");
        assert_eq!(s.api.tokens, vec![Secret::new("0042")]);
        let dir = std::env::temp_dir().join(format!("rtk-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("tokens.toml");
        std::fs::write(&file, "[api]\ntokens = [\"0042\", \"abc\"]\n").expect("write");
        let s = Settings::load_with_env(&ConfigFile::Named(file), Vec::new()).expect("valid configuration");
        assert_eq!(s.api.tokens, vec![Secret::new("0042"), Secret::new("abc")]);
    }

    #[test]
    fn followups_are_read_from_the_file_and_a_bad_one_is_named() {
        let dir = std::env::temp_dir().join(format!("rtk-config-f-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("followups.toml");
        std::fs::write(
            &file,
            "[worker]\nconcurrency = 2\n\n[[followups]]\nkind = \"slack\"\nname = \"team\"\nurl = \"https://hooks.example.com/x\"\n\n\
             [[followups]]\nkind = \"webhook\"\nenabled = false\nurl = \"https://example.com/h\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
        )
        .expect("write");
        let s = Settings::load_with_env(&ConfigFile::Named(file.clone()), Vec::new()).expect("valid");
        assert_eq!(s.worker.concurrency, 2);
        assert_eq!(s.followups.len(), 2);
        assert_eq!(s.followups[0].name(), "team");
        assert!(!s.followups[1].enabled);
        assert!(!format!("{s:?}").contains("whsec_"), "follow-up secrets are redacted");

        std::fs::write(&file, "[[followups]]\nkind = \"pager\"\n").expect("write");
        let error = Settings::load_with_env(&ConfigFile::Named(file), Vec::new()).expect_err("an unknown kind");
        assert!(
            error.to_string().contains("pager") && error.to_string().contains("disable_meeting"),
            "{error}"
        );
    }

    #[test]
    fn the_prefixed_variable_wins_over_the_conventional_one() {
        let s = load(&[
            ("DATABASE_URL", "postgres://u@db:5432/conventional"),
            ("RTK_SESSIONS__DATABASE__URL", "postgres://u@db:5432/prefixed"),
        ])
        .expect("valid configuration");
        assert_eq!(s.database.url.expose(), "postgres://u@db:5432/prefixed");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("RTK_SESSIONS__SERVER__BIND", "nonsense")], "server.bind"),
            (
                &[("RTK_SESSIONS__SERVER__BODY_LIMIT_BYTES", "lots")],
                "server.body_limit_bytes",
            ),
            (
                &[("RTK_SESSIONS__SERVER__REQUEST_TIMEOUT_SECS", "0")],
                "server.request_timeout_secs",
            ),
            (&[("RTK_SESSIONS__SERVER__PUBLIC_URL", "ftp://x")], "server.public_url"),
            (&[("RTK_SESSIONS__DATABASE__URL", "mysql://secret@x")], "database.url"),
            (
                &[("RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_PEM", "not a pem")],
                "realtimekit.public_key_pem",
            ),
            (&[("RTK_SESSIONS__SERVER__NO_SUCH_KEY", "1")], "no_such_key"),
            (
                &[("RTK_SESSIONS__REGISTRATION__EVENTS", "meeting.ended,meeting.exploded")],
                "registration.events",
            ),
            (
                &[("RTK_SESSIONS__RECONCILE__INTERVAL_SECS", "0")],
                "reconcile.interval_secs",
            ),
        ];
        for (env, key) in cases {
            let error = load(env)
                .err()
                .unwrap_or_else(|| panic!("{env:?} must be rejected"))
                .to_string();
            assert!(error.contains(key), "error for {env:?} should name {key}: {error}");
            assert!(
                !error.contains("secret@"),
                "the database URL must not be echoed: {error}"
            );
        }
    }

    #[test]
    fn a_missing_named_file_is_an_error_but_a_missing_default_file_is_fine() {
        let named = ConfigFile::Named(PathBuf::from("/nonexistent/rtk.toml"));
        assert!(Settings::load_with_env(&named, Vec::new()).is_err());
        // The crate root has no config.toml of its own in tests' working directory unless the repo ships one,
        // which must then be valid as well.
        assert!(Settings::load_with_env(&ConfigFile::Default, Vec::new()).is_ok());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut s = Settings::default();
        s.api.tokens = vec![Secret::new("very-secret-token")];
        s.realtimekit.api_token = Secret::new("cf-secret");
        let printed = format!("{s:?}");
        assert!(!printed.contains("very-secret-token"));
        assert!(!printed.contains("cf-secret"));
        assert!(printed.contains("[redacted]"));
    }
}
