//! Follow-ups: the work run in the background on what happens to a session (it ended, it started, someone joined,
//! a file was archived, everything promised arrived): a notification, a message on a bus, a report, disabling the
//! meeting. Each built-in lives in its own file; every kind that sends a message sends the one of [`message`].
//!
//! To add one: write a file with a type implementing [`Followup`] and a `from_options` constructor, then add a
//! variant to [`FollowupKind`] and one arm to [`build`]. It is configured as a `[[followups]]` entry with `kind` set
//! to its name.

mod archive;
pub mod completion;
mod disable_meeting;
mod download;
mod followup;
pub mod message;
mod nats;
pub mod occurrence;
mod rabbitmq;
mod receivers;
mod redis_streams;
mod report;
mod slack;
mod sqs;
mod webhook;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use followup::{Followup, FollowupContext, FollowupError, JobInfo};
pub use receivers::outbound_client;
pub use report::{Report, render_report_html};

use crate::config::{FollowupSettings, Settings};
use crate::domain::Trigger;
use crate::domain::job::FollowupKind;
use crate::store::job_specs::{JobSpec, JobSpecs};

/// Builds a follow-up of `kind` named `name` from its options, or says what is wrong with them. A new kind is one
/// variant of [`FollowupKind`] and one arm here.
fn build(
    kind: FollowupKind,
    name: String,
    options: &Map<String, Value>,
    settings: &Settings,
) -> Result<Arc<dyn Followup>, String> {
    match kind {
        FollowupKind::Webhook => webhook::WebhookFollowup::from_options(name, options),
        FollowupKind::Slack => slack::SlackFollowup::from_options(name, options),
        FollowupKind::Report => report::ReportFollowup::from_options(name, options, settings),
        FollowupKind::DisableMeeting => disable_meeting::DisableMeetingFollowup::from_options(name, options),
        FollowupKind::Archive => archive::ArchiveFollowup::from_options(name, options, &settings.archive),
        FollowupKind::Nats => nats::NatsFollowup::from_options(name, options),
        FollowupKind::Rabbitmq => rabbitmq::RabbitmqFollowup::from_options(name, options),
        FollowupKind::Redis => redis_streams::RedisFollowup::from_options(name, options),
        FollowupKind::Sqs => sqs::SqsFollowup::from_options(name, options),
    }
}

/// The triggers and filters of an entry as job specs, or what is wrong with them.
fn specs_of(entry: &FollowupSettings, name: &str, settings: &Settings) -> Result<Vec<JobSpec>, String> {
    let kind = entry.kind;
    if kind == FollowupKind::Archive {
        let default = entry.on == [Trigger::SessionEnded];
        if !default || !entry.apps.is_empty() || entry.min_duration_secs.is_some() {
            return Err(
                "the archive runs whenever a session's files are announced: it takes no `on`, `apps` or \
                        `min_duration_secs`"
                    .to_owned(),
            );
        }
    }
    if entry.on.is_empty() {
        return Err("`on` lists no trigger; leave it out to run on session.ended".to_owned());
    }
    if let Some(refused) = entry.on.iter().find(|t| !kind.triggers().contains(t)) {
        let accepted: Vec<&str> = kind.triggers().iter().map(|t| t.as_str()).collect();
        return Err(format!(
            "kind \"{kind}\" cannot run on {refused} (it runs on {})",
            accepted.join(", ")
        ));
    }
    if entry.min_duration_secs.is_some()
        && let Some(before) = entry.on.iter().find(|t| !t.after_the_end())
    {
        return Err(format!(
            "min_duration_secs needs the session's duration, which {before} comes before; give that trigger a \
             follow-up entry of its own"
        ));
    }
    let known = settings.realtimekit.apps();
    if !known.is_empty()
        && let Some(unknown) = entry.apps.iter().find(|app| known.get(app.trim()).is_none())
    {
        return Err(format!(
            "apps: {unknown:?} is not a configured app (see [[realtimekit.apps]])"
        ));
    }
    let apps = (!entry.apps.is_empty()).then(|| entry.apps.iter().map(|a| a.trim().to_owned()).collect());
    let mut triggers = entry.on.clone();
    triggers.sort();
    triggers.dedup();
    Ok(triggers
        .into_iter()
        .map(|trigger| JobSpec {
            name: name.to_owned(),
            kind,
            trigger,
            apps: apps.clone(),
            min_duration_secs: i64::from(entry.min_duration_secs.unwrap_or(0)),
        })
        .collect())
}

/// An enabled follow-up as operators see it (the console, `rtk-sessions followups configured`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Configured {
    pub name: String,
    pub kind: FollowupKind,
    pub on: Vec<Trigger>,
    /// Where it sends: scheme and host, never a credential (see [`Followup::target`]).
    pub target: String,
}

/// The enabled follow-ups, by name, and the triggers each listens for.
#[derive(Clone, Default)]
pub struct Registry {
    followups: Vec<Arc<dyn Followup>>,
    specs: Vec<JobSpec>,
}

impl Registry {
    /// Builds every enabled `[[followups]]` entry; an error names the entry and what is wrong with it.
    /// While `archive.url` is set, the archive follow-up is on, named `archive`, unless an entry of that kind
    /// names it otherwise or disables it.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let mut followups = Vec::new();
        let mut specs = Vec::new();
        let mut names = HashSet::new();
        let archive_entries = settings
            .followups
            .iter()
            .filter(|e| e.kind == FollowupKind::Archive)
            .count();
        if archive_entries > 1 {
            return Err("followups: at most one entry of kind \"archive\" (there is one archive store)".to_owned());
        }
        let implicit_archive = (archive_entries == 0 && settings.archive.url.is_some())
            .then(|| FollowupSettings::new(FollowupKind::Archive, Map::new()));
        for (index, entry) in settings.followups.iter().chain(&implicit_archive).enumerate() {
            let label = describe(index, entry);
            if !names.insert(name_of(entry).to_owned()) {
                return Err(format!(
                    "{label}: another follow-up is already named {:?}; give each a distinct `name`",
                    name_of(entry)
                ));
            }
            if entry.kind.needs_realtimekit() {
                let missing = crate::realtimekit::client::missing_credentials(&settings.realtimekit);
                if !missing.is_empty() {
                    return Err(format!(
                        "{label}: needs the RealtimeKit API; set {}",
                        missing.join(", ")
                    ));
                }
            }
            let entry_specs = specs_of(entry, name_of(entry), settings).map_err(|e| format!("{label}: {e}"))?;
            let followup = build(entry.kind, name_of(entry).to_owned(), &entry.options, settings)
                .map_err(|e| format!("{label}: {e}"))?;
            if entry.enabled {
                followups.push(followup);
                specs.extend(entry_specs);
            }
        }
        Ok(Self { followups, specs })
    }

    pub fn validate(settings: &Settings) -> Result<(), String> {
        Self::from_settings(settings).map(drop)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Followup>> {
        self.followups.iter().find(|f| f.name() == name)
    }

    pub fn is_empty(&self) -> bool {
        self.followups.is_empty()
    }

    /// The enabled follow-ups, in their configured order.
    pub fn all(&self) -> &[Arc<dyn Followup>] {
        &self.followups
    }

    /// What operators see of each enabled follow-up.
    pub fn configured(&self) -> Vec<Configured> {
        self.followups
            .iter()
            .map(|followup| Configured {
                name: followup.name().to_owned(),
                kind: followup.kind(),
                on: self.triggers_of(followup.name()),
                target: followup.target(),
            })
            .collect()
    }

    /// The triggers `name` runs on.
    pub fn triggers_of(&self, name: &str) -> Vec<Trigger> {
        self.specs
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.trigger)
            .collect()
    }

    /// What the statements that record occurrences queue jobs from: each enabled follow-up for each of its
    /// triggers, with its filters.
    pub fn job_specs(&self, max_attempts: std::num::NonZeroU32) -> JobSpecs {
        JobSpecs::new(
            self.specs.clone(),
            i32::try_from(max_attempts.get()).unwrap_or(i32::MAX),
        )
    }
}

/// An entry's `name`, or its kind when it has none: what tells two follow-ups of one kind apart.
fn name_of(entry: &FollowupSettings) -> &str {
    let name = entry.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    name.unwrap_or(entry.kind.as_str())
}

fn describe(index: usize, entry: &FollowupSettings) -> String {
    match &entry.name {
        Some(name) => format!("followups[{index}] ({name:?}, kind \"{}\")", entry.kind),
        None => format!("followups[{index}] (kind \"{}\")", entry.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: FollowupKind, name: Option<&str>, options: Value) -> FollowupSettings {
        FollowupSettings {
            name: name.map(str::to_owned),
            ..FollowupSettings::new(kind, options.as_object().cloned().unwrap_or_default())
        }
    }

    /// Settings with these follow-ups and no archive store (so no implicit archive follow-up).
    fn settings(followups: Vec<FollowupSettings>) -> Settings {
        let mut settings = Settings {
            followups,
            ..Settings::default()
        };
        settings.archive.url = None;
        settings
    }

    #[test]
    fn the_archive_runs_by_default_while_a_store_is_set_and_an_entry_can_turn_it_off() {
        let with_store = Settings::default();
        let specs = Registry::from_settings(&with_store)
            .expect("valid")
            .job_specs(std::num::NonZeroU32::MIN);
        assert_eq!(specs.name_of(FollowupKind::Archive), Some("archive"));
        let mut off = entry(FollowupKind::Archive, None, json!({}));
        off.enabled = false;
        let turned_off = Settings {
            followups: vec![off],
            ..Settings::default()
        };
        assert!(Registry::from_settings(&turned_off).expect("valid").is_empty());
        assert!(Registry::from_settings(&settings(vec![])).expect("valid").is_empty());
        let error = Registry::from_settings(&settings(vec![entry(FollowupKind::Archive, None, json!({}))]))
            .err()
            .expect("no store");
        assert!(error.contains("archive.url"), "{error}");
    }

    #[test]
    fn a_bad_followup_stops_the_start_with_a_message_naming_it() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let cases = [
            (
                entry(FollowupKind::Webhook, None, json!({"secret": secret})),
                "kind \"webhook\"",
                "missing field `url`",
            ),
            (
                entry(FollowupKind::Webhook, None, json!({"url": "ftp://x", "secret": secret})),
                "webhook",
                "http",
            ),
            (
                entry(
                    FollowupKind::Webhook,
                    None,
                    json!({"url": "https://x", "secret": "hunter2"}),
                ),
                "webhook",
                "whsec_",
            ),
            (
                entry(
                    FollowupKind::Webhook,
                    None,
                    json!({"url": "https://x", "secret": secret, "typo": 1}),
                ),
                "webhook",
                "unknown field `typo`",
            ),
            (
                entry(FollowupKind::Slack, None, json!({})),
                "slack",
                "missing field `url`",
            ),
            (
                entry(FollowupKind::Report, None, json!({})),
                "report",
                "realtimekit.account_id",
            ),
            (
                entry(FollowupKind::DisableMeeting, None, json!({})),
                "disable_meeting",
                "realtimekit.api_token",
            ),
        ];
        for (followup, names, says) in cases {
            let error = Registry::from_settings(&settings(vec![followup]))
                .err()
                .expect("refused");
            assert!(error.contains(names) && error.contains(says), "{error}");
            assert!(!error.contains("hunter2"), "secrets are not echoed: {error}");
        }
    }

    #[test]
    fn two_followups_of_one_kind_need_distinct_names() {
        let hook = |name: Option<&str>| entry(FollowupKind::Slack, name, json!({"url": "https://hooks.example.com/a"}));
        assert!(Registry::from_settings(&settings(vec![hook(None), hook(None)])).is_err());
        let registry =
            Registry::from_settings(&settings(vec![hook(Some("team-a")), hook(Some("team-b"))])).expect("valid");
        let specs = registry.job_specs(std::num::NonZeroU32::new(12).expect("above 0"));
        assert_eq!(specs.names(), ["team-a", "team-b"]);
        assert!(
            specs
                .specs()
                .iter()
                .all(|s| s.kind == FollowupKind::Slack && s.trigger == Trigger::SessionEnded)
        );
        assert_eq!(specs.max_attempts, 12);
    }

    #[test]
    fn every_example_in_config_toml_is_a_valid_entry_and_every_kind_has_one() {
        use figment::providers::Format;
        // The commented-out `[[followups]]` entries, uncommented (their trailing comments left to TOML).
        let examples: String = crate::config::DEFAULTS
            .lines()
            .skip_while(|line| !line.starts_with("# [[followups]]"))
            .take_while(|line| line.starts_with('#'))
            .map(|line| line.trim_start_matches('#').trim_start())
            .map(|line| format!("{line}\n"))
            .collect();
        let examples = examples.replace("whsec_...", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let parsed: Settings = figment::Figment::from(figment::providers::Toml::string(crate::config::DEFAULTS))
            .merge(figment::providers::Toml::string(&examples))
            .extract()
            .expect("the examples parse");
        let mut settings = parsed;
        settings.realtimekit.account_id = "account".into();
        settings.realtimekit.app_id = "app".into();
        settings.realtimekit.api_token = crate::domain::Secret::new("token");
        let kinds: HashSet<FollowupKind> = settings.followups.iter().map(|f| f.kind).collect();
        assert_eq!(kinds.len(), FollowupKind::ALL.len(), "one example of every kind");
        for entry in &mut settings.followups {
            entry.apps.clear(); // `<app id>` stands for one of yours
        }
        Registry::from_settings(&settings).expect("every example is valid");
    }

    #[test]
    fn disabled_followups_are_validated_but_get_no_jobs() {
        let mut disabled = entry(FollowupKind::Slack, None, json!({"url": "https://hooks.example.com/a"}));
        disabled.enabled = false;
        let registry = Registry::from_settings(&settings(vec![disabled])).expect("valid");
        assert!(registry.is_empty());
    }
}
