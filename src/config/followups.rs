//! One `[[followups]]` entry of the configuration: what runs, on which triggers, for which sessions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Trigger;
use crate::domain::job::FollowupKind;

/// One `[[followups]]` entry: `kind`, optional `name` and `enabled`, and the kind's own options.
#[derive(Clone, Serialize, Deserialize)]
pub struct FollowupSettings {
    pub kind: FollowupKind,
    /// Tells two follow-ups of one kind apart in the API and the logs; defaults to the kind.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// What makes it run, each occurrence once: `session.ended` (the default), `session.started`,
    /// `participant.joined`, `participant.left`, `artifact.archived`, `session.completed`.
    #[serde(default = "on_session_ended")]
    pub on: Vec<Trigger>,
    /// Only for the sessions of these apps (their ids, as in `[[realtimekit.apps]]`); empty: every app's.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Only for sessions that lasted at least this long (for the triggers that come after the end).
    #[serde(default)]
    pub min_duration_secs: Option<u32>,
    /// The kind's own options (`url`, `secret`, ...), checked by the follow-up itself.
    #[serde(flatten)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl FollowupSettings {
    /// An enabled entry of `kind` with these options, running on `session.ended` for every app: what an entry with
    /// only `kind` and its options says.
    pub fn new(kind: FollowupKind, options: serde_json::Map<String, serde_json::Value>) -> Self {
        Self {
            kind,
            name: None,
            enabled: true,
            on: on_session_ended(),
            apps: Vec::new(),
            min_duration_secs: None,
            options,
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

fn on_session_ended() -> Vec<Trigger> {
    vec![Trigger::SessionEnded]
}

impl fmt::Debug for FollowupSettings {
    /// Options may hold secrets: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowupSettings")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("on", &self.on)
            .field("apps", &self.apps)
            .field("min_duration_secs", &self.min_duration_secs)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}
