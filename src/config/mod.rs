//! Typed configuration: defaults < `config.toml` < environment.
//!
//! Every key can be overridden with `RTK_SESSIONS__SECTION__KEY`; the conventional `DATABASE_URL` and
//! `CLOUDFLARE_API_TOKEN` are honoured too. The types state what each key accepts (an address, a count above 0, a
//! duration in seconds); [`Settings::validate`] checks what spans keys. The rest of the service only ever sees
//! usable values, and an invalid one stops the start with a message naming its key and where it came from.

mod followups;
mod load;
mod log;
#[cfg(test)]
mod tests;
mod values;

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;

pub use self::followups::FollowupSettings;
pub use self::load::ConfigFile;
use self::log::check_log_filter;
pub use self::log::{LogFormat, LogSettings};
use self::values::{api_tokens, archive_location, empty_is_none, positive_secs, secs, strings_from_list_or_csv};
use crate::domain::{ApiToken, App, Apps, REALTIMEKIT_EVENTS, Secret};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub realtimekit: RealtimeKitSettings,
    pub api: ApiSettings,
    pub console: ConsoleSettings,
    pub alerts: AlertsSettings,
    pub registration: RegistrationSettings,
    pub reconcile: ReconcileSettings,
    pub ingest: IngestSettings,
    pub worker: WorkerSettings,
    pub retention: RetentionSettings,
    pub archive: ArchiveSettings,
    /// The follow-up work run for every newly recorded session, in `[[followups]]` entries (none by default).
    #[serde(default)]
    pub followups: Vec<FollowupSettings>,
    pub log: LogSettings,
}

/// The defaults, in one place: `config.toml` at the root of the repository, which lists every key with a comment. It
/// is the first layer of every load, so a file of one's own needs only the keys it changes.
pub const DEFAULTS: &str = include_str!("../../config.toml");

impl Default for Settings {
    fn default() -> Self {
        Figment::from(Toml::string(DEFAULTS)).extract().expect(
            "config.toml holds every key, with a valid value (checked by config_toml_lists_every_key_with_its_default)",
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// Where RealtimeKit reaches us, e.g. `https://sessions.example.com`. Not set while not yet public.
    #[serde(with = "empty_is_none")]
    pub public_url: Option<reqwest::Url>,
    pub body_limit_bytes: NonZeroUsize,
    #[serde(rename = "request_timeout_secs", with = "positive_secs")]
    pub request_timeout: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    #[serde(rename = "shutdown_grace_secs", with = "secs")]
    pub shutdown_grace: Duration,
    /// Verified deliveries handled at once; past it, they are answered 503 at once (load shedding). The receiver's
    /// own capacity: nothing else takes it.
    pub max_in_flight: NonZeroUsize,
    /// API and signed-in console requests handled at once, apart from the receiver's.
    pub api_max_in_flight: NonZeroUsize,
    /// A connection that does not send a complete request head within this time is closed (slow or idle
    /// clients cannot hold connections open).
    #[serde(rename = "header_read_timeout_secs", with = "positive_secs")]
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this long.
    #[serde(rename = "idle_timeout_secs", with = "positive_secs")]
    pub idle_timeout: Duration,
    /// A request body must arrive whole within this time once its head has (a RealtimeKit payload is a few KB).
    #[serde(rename = "body_read_timeout_secs", with = "positive_secs")]
    pub body_read_timeout: Duration,
    /// Open connections at most; past it, new ones wait in the listen backlog.
    pub max_connections: NonZeroUsize,
    /// Serve `/metrics` without a token on this separate address (an internal network); not set: only on the main
    /// port, behind the API token.
    #[serde(with = "empty_is_none")]
    pub metrics_bind: Option<SocketAddr>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: NonZeroU32,
    /// How long a request waits for a free connection before it is answered 503.
    #[serde(rename = "acquire_timeout_secs", with = "positive_secs")]
    pub acquire_timeout: Duration,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeKitSettings {
    /// The shorthand for one app (`account_id`, `app_id`, `api_token`); with `apps`, the account and token an entry
    /// without its own uses.
    pub account_id: String,
    pub app_id: String,
    pub api_token: Secret,
    /// The apps this deployment serves, as `[[realtimekit.apps]]` tables (beside the shorthand's app, if any).
    pub apps: Vec<AppSettings>,
    pub api_base: String,
    pub public_key_url: String,
    /// Pins the verification key (PEM); when set, nothing is fetched.
    pub public_key_pem: String,
    /// The same, read from a PEM file.
    pub public_key_file: String,
    /// The least time between two fetches of the public key (a failed signature triggers a refetch).
    #[serde(rename = "public_key_refetch_interval_secs", with = "secs")]
    pub public_key_refetch_interval: Duration,
    /// The budget every call to Cloudflare waits for, shared by the replicas.
    pub limits: CloudflareLimits,
}

/// Cloudflare's documented limits, each a number of requests per window.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareLimits {
    /// Cloudflare's global API limit, per API token (1,200 per 5 minutes).
    pub token: RateLimit,
    /// RealtimeKit's, per app (3,500 per 5 minutes).
    pub app: RateLimit,
    /// RealtimeKit's recording APIs, per app (1,000 per 50 seconds).
    pub recordings: RateLimit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// At least 2: a tenth of them (at least one) is the burst, the rest are spread over the window.
    pub requests: u32,
    pub window_secs: NonZeroU64,
}

/// One `[[realtimekit.apps]]` entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    pub app_id: String,
    #[serde(default, with = "empty_is_none")]
    pub name: Option<String>,
    /// Empty: `realtimekit.account_id`.
    #[serde(default)]
    pub account_id: String,
    /// Empty: `realtimekit.api_token` (or `CLOUDFLARE_API_TOKEN`).
    #[serde(default)]
    pub api_token: Secret,
}

impl RealtimeKitSettings {
    /// The configured apps: the shorthand's app first (when `app_id` is set), then each `[[realtimekit.apps]]`
    /// entry, which takes the shorthand's account and token where it names none. Checked by `validate`.
    pub fn apps(&self) -> Apps {
        let shorthand = (!self.app_id.trim().is_empty()).then(|| App {
            app_id: self.app_id.trim().to_owned(),
            name: None,
            account_id: self.account_id.trim().to_owned(),
            api_token: self.api_token.clone(),
        });
        let entries = self.apps.iter().map(|entry| App {
            app_id: entry.app_id.trim().to_owned(),
            name: entry.name.clone(),
            account_id: Some(entry.account_id.trim())
                .filter(|a| !a.is_empty())
                .unwrap_or(self.account_id.trim())
                .to_owned(),
            api_token: if entry.api_token.is_empty() {
                self.api_token.clone()
            } else {
                entry.api_token.clone()
            },
        });
        Apps::new(shorthand.into_iter().chain(entries).collect())
    }

    /// Every app's id and name is usable and given once.
    fn check_apps(&self) -> Result<(), (&'static str, String)> {
        let apps = self.apps();
        // The shorthand's app, when there is one, comes first; the entries are numbered from 1 after it.
        let shorthand = usize::from(!self.app_id.trim().is_empty());
        for (index, app) in apps.iter().enumerate() {
            let id = &app.app_id;
            let at = match index.checked_sub(shorthand) {
                None => "realtimekit.app_id".to_owned(),
                Some(entry) => format!("entry {}", entry + 1),
            };
            if id.is_empty() {
                return Err(("realtimekit.apps", format!("{at}: app_id is required")));
            }
            if id.len() > crate::domain::limits::MAX_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err((
                    "realtimekit.apps",
                    format!("{at}: app_id must be printable ASCII without spaces, at most 256 bytes"),
                ));
            }
            if apps.iter().take(index).any(|other| &other.app_id == id) {
                return Err((
                    "realtimekit.apps",
                    format!("app {id} is configured twice (realtimekit.app_id is one app too); give each app once"),
                ));
            }
            if let Some(name) = &app.name
                && apps.iter().take(index).any(|other| other.name.as_ref() == Some(name))
            {
                return Err((
                    "realtimekit.apps",
                    format!("two apps are named {name:?}; names must be unique"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The tokens of the operator API and the console, each with a name and a scope: `[[api.tokens]]` tables, or
    /// plain strings (each an `operate` token named `token-1`, `token-2`, ...). From the environment, a
    /// comma-separated list of plain tokens works too.
    #[serde(deserialize_with = "api_tokens")]
    pub tokens: Vec<ApiToken>,
}

/// The operator console at `/console`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// How long a console sign-in lasts.
    #[serde(rename = "session_ttl_secs", with = "positive_secs")]
    pub session_ttl: Duration,
}

/// What the console warns of by itself (the same conditions as deploy/prometheus/alerts.yml, for a deployment
/// that has no alerting yet).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSettings {
    /// The console's overview warns when no delivery came for this many hours after deliveries came in the week
    /// before; 0: never.
    pub silence_hours: u32,
}

impl AlertsSettings {
    /// How long without a delivery is silence worth a warning; `None`: never.
    pub fn silence(&self) -> Option<Duration> {
        (self.silence_hours > 0).then(|| Duration::from_secs(u64::from(self.silence_hours) * 3600))
    }
}

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
    #[serde(rename = "interval_secs", with = "positive_secs")]
    pub interval: Duration,
    /// How far back each sweep looks for ended sessions.
    pub lookback_hours: NonZeroU64,
    /// Sessions each sweep asks the API about for artifacts whose events never came (4 calls each); 0: none.
    pub artifact_checks_per_sweep: u32,
    /// A session live for longer than this is asked about through the Sessions API: ended or marked stale.
    pub stale_live_hours: NonZeroU64,
}

/// How long delivery rows are kept. Sessions are kept for good.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Each month's deliveries are dropped whole this many days after the month ends, by an hourly sweep; 0 keeps
    /// them for good.
    pub deliveries_days: u32,
    /// The same for `unprocessable` deliveries, which wait for an operator to look at them or replay them; 0 (the
    /// default) keeps them for good.
    pub unprocessable_days: u32,
    /// The same for `foreign` deliveries (of an app that is not configured); 0 keeps them (within their bound).
    pub foreign_days: u32,
}

/// Where the archive follow-up copies each session's recordings, transcript, summary and chat.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// `file:///folder`, `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`, or a folder path
    /// (relative to the working directory: `archive`, the default); empty: no archive (and no archive follow-up).
    #[serde(with = "archive_location")]
    pub url: Option<url::Url>,
    /// The largest object copied when RealtimeKit did not announce a size (an announced size is checked exactly).
    pub max_object_bytes: NonZeroU64,
    /// One archive run (all of a session's artifacts) is cancelled after this long; its job's lease is renewed
    /// meanwhile.
    #[serde(rename = "attempt_timeout_secs", with = "positive_secs")]
    pub attempt_timeout: Duration,
    /// Archive runs at once on this replica, apart from `worker.concurrency`: copies never hold the slots that the
    /// other follow-ups need.
    pub concurrency: NonZeroUsize,
    /// A download slower than this over 30 seconds fails its attempt (and is retried); 0: no minimum.
    pub min_transfer_bytes_per_sec: u64,
    /// Lets downloads reach plain http and addresses inside the network (loopback, private, link-local): for tests
    /// and local trials only. Off, a download URL must be https on a public address, at every redirect.
    pub allow_private_sources: bool,
}

/// How deliveries are written: group commit gathers concurrent deliveries into one transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// The most deliveries one transaction acknowledges; 1 writes each delivery in its own transaction.
    pub batch_max: NonZeroUsize,
    /// How long a writer waits for more deliveries once it has one; 0 takes only what is already queued.
    pub batch_window_micros: u64,
    /// Batches written at once (each holds one database connection while it writes).
    pub writers: NonZeroUsize,
    /// Deliveries that may wait for a writer; past it, requests wait (and time out with a 503).
    pub queue_capacity: NonZeroUsize,
    /// `foreign` deliveries kept at most, bodies included: what a stranger can make us store.
    pub foreign_deliveries_kept: u32,
}

/// The follow-up worker pool that runs inside `serve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// False: this replica only serves HTTP (jobs are still queued, for the replicas that work).
    pub enabled: bool,
    /// Jobs run at once by this replica.
    pub concurrency: NonZeroUsize,
    /// Attempts before a job is `dead`.
    pub max_attempts: NonZeroU32,
    #[serde(rename = "backoff_initial_secs", with = "positive_secs")]
    pub backoff_initial: Duration,
    #[serde(rename = "backoff_max_secs", with = "secs")]
    pub backoff_max: Duration,
    /// How long a claimed job belongs to its worker; past it, another worker may take the job over.
    #[serde(rename = "lease_secs", with = "positive_secs")]
    pub lease: Duration,
    /// Each attempt is cancelled after this long; must be shorter than the lease.
    #[serde(rename = "attempt_timeout_secs", with = "positive_secs")]
    pub attempt_timeout: Duration,
    /// Due jobs are also looked for this often, besides the LISTEN/NOTIFY wake-ups.
    #[serde(rename = "poll_interval_secs", with = "positive_secs")]
    pub poll_interval: Duration,
    /// How long after its end a session's `session.completed` waits for the files its meeting promised.
    pub completion_timeout_hours: NonZeroU32,
}

impl WorkerSettings {
    pub fn completion_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.completion_timeout_hours.get()) * 3600)
    }
}

impl Settings {
    /// What the types cannot say: checks that span keys, and values parsed by the library that uses them. An error
    /// is the key and what is wrong with it.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let refuse = |key, why: &str| Err((key, why.to_owned()));
        if let Some(url) = &self.server.public_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return refuse("server.public_url", "must start with https:// or http://");
        }
        let database_url = self.database.url.expose();
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return refuse("database.url", "must start with postgres:// or postgresql://");
        }
        if PgConnectOptions::from_str(database_url).is_err() {
            // The URL may hold a password: say what is wrong without echoing it.
            return refuse("database.url", "not a valid postgres:// connection URL");
        }
        for (key, value) in [
            ("realtimekit.api_base", &self.realtimekit.api_base),
            ("realtimekit.public_key_url", &self.realtimekit.public_key_url),
        ] {
            reqwest::Url::parse(value).map_err(|e| (key, format!("not a URL ({e})")))?;
        }
        self.realtimekit.check_apps()?;
        let limits = &self.realtimekit.limits;
        for (key, limit) in [
            ("realtimekit.limits.token", limits.token),
            ("realtimekit.limits.app", limits.app),
            ("realtimekit.limits.recordings", limits.recordings),
        ] {
            if limit.requests < 2 {
                return refuse(key, "requests must be at least 2 (a burst and a rate)");
            }
        }
        if !self.realtimekit.public_key_pem.is_empty() && !self.realtimekit.public_key_file.is_empty() {
            return refuse(
                "realtimekit.public_key_pem",
                "set either public_key_pem or public_key_file, not both",
            );
        }
        if self.registration.name.trim().is_empty() {
            return refuse("registration.name", "must not be empty");
        }
        if self.registration.events.is_empty() {
            return refuse("registration.events", "must list at least one event");
        }
        if let Some(unknown) = (self.registration.events.iter()).find(|e| !REALTIMEKIT_EVENTS.contains(&e.as_str())) {
            let known = REALTIMEKIT_EVENTS.join(", ");
            return Err((
                "registration.events",
                format!("{unknown:?} is not a RealtimeKit event (one of {known})"),
            ));
        }
        if self.ingest.batch_max.get() > 1000 {
            return refuse("ingest.batch_max", "must be at most 1000");
        }
        if self.ingest.writers.get() as u64 >= u64::from(self.database.max_connections.get()) {
            return refuse(
                "ingest.writers",
                "must be below database.max_connections, which the API and the follow-ups share",
            );
        }
        if self.worker.backoff_max < self.worker.backoff_initial {
            return refuse(
                "worker.backoff_max_secs",
                "must be at least worker.backoff_initial_secs",
            );
        }
        if self.worker.attempt_timeout >= self.worker.lease {
            return refuse(
                "worker.attempt_timeout_secs",
                "must be shorter than worker.lease_secs, so a live worker never outlasts its lease",
            );
        }
        if let Some(url) = &self.archive.url {
            let stores = ["file", "s3", "s3a", "gs", "az", "azure", "abfs", "abfss"];
            if !stores.contains(&url.scheme()) {
                return refuse(
                    "archive.url",
                    "must be file:///folder, s3://bucket, gs://bucket or az://container",
                );
            }
            if url.scheme() == "file" && url.to_file_path().is_err() {
                return refuse(
                    "archive.url",
                    "a file:// URL names an absolute folder: file:///var/lib/archive",
                );
            }
        }
        check_log_filter(&self.log.level).map_err(|why| ("log.level", why))?;
        // The `[[followups]]` entries' own options are checked where they are built (`followups::Registry`).
        Ok(())
    }

    /// The URL RealtimeKit delivers to: `server.public_url` + `/webhooks/realtimekit`; `None` without a public URL.
    pub fn webhook_url(&self) -> Option<String> {
        let base = self.server.public_url.as_ref()?.as_str().trim_end_matches('/');
        Some(format!("{base}{}", crate::domain::WEBHOOK_PATH))
    }
}
