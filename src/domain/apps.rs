//! Whose delivery it is. RealtimeKit signs every customer's deliveries with one key, so a valid signature proves
//! only that RealtimeKit sent a delivery. The app it belongs to is the app id it carries, inside the signed bytes:
//! `meeting.organizedBy.id` (the Sessions API's `organization_id`), `recording.organizationId`, or the top-level
//! `organizedBy.id` of the flat `meeting.chatSynced`. Once apps are configured, only theirs are acted on.

use serde::Serialize;
use serde_json::Value;

use super::Secret;
use super::lenient;
use super::limits::MAX_ID_BYTES;

/// A RealtimeKit app this deployment serves, with what calling Cloudflare for it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct App {
    pub app_id: String,
    /// What people call it ("staging", "production"); the app id when not given.
    pub name: Option<String>,
    /// Empty when not configured: the app's deliveries are accepted, but nothing calls Cloudflare for it.
    pub account_id: String,
    pub api_token: Secret,
}

impl App {
    /// The name, or the app id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.app_id)
    }

    /// What is missing to call Cloudflare for this app, as the keys to set.
    pub fn missing_credentials(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.account_id.trim().is_empty() {
            missing.push("account_id");
        }
        if self.api_token.is_empty() {
            missing.push("api_token");
        }
        missing
    }
}

/// The configured apps. None configured: every app's deliveries are accepted (a local trial with a pinned key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Apps(Vec<App>);

/// The app ids a delivery carries, read from the signed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    App(String),
    /// No app id at all (or not JSON).
    Missing,
    /// Two places name different apps: nothing says which is true.
    Conflicting(Vec<String>),
}

/// What the configured apps make of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// One of ours, or any app while none is configured; the app id when the delivery carries one.
    Admitted(Option<String>),
    /// Not one of ours: kept within a bound, and nothing is done for it.
    Foreign { app_id: Option<String>, reason: String },
}

impl Apps {
    pub fn new(apps: Vec<App>) -> Self {
        Self(apps)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &App> {
        self.0.iter()
    }

    pub fn get(&self, app_id: &str) -> Option<&App> {
        self.0.iter().find(|app| app.app_id == app_id)
    }

    /// The one app, when exactly one is configured.
    pub fn only(&self) -> Option<&App> {
        match self.0.as_slice() {
            [app] => Some(app),
            _ => None,
        }
    }

    /// Fails closed: once an app is configured, a delivery is ours only when every app id it carries is one
    /// configured app. One that carries none, or two different ones, is foreign too.
    pub fn admit(&self, attribution: &Attribution) -> Admission {
        match attribution {
            Attribution::App(app_id) if self.is_empty() || self.get(app_id).is_some() => {
                Admission::Admitted(Some(app_id.clone()))
            }
            Attribution::Missing | Attribution::Conflicting(_) if self.is_empty() => Admission::Admitted(None),
            Attribution::App(app_id) => Admission::Foreign {
                app_id: Some(app_id.clone()),
                reason: format!("app {app_id} is not configured"),
            },
            Attribution::Missing => Admission::Foreign {
                app_id: None,
                reason: "the delivery carries no app id, so it cannot be one of the configured apps'".to_owned(),
            },
            Attribution::Conflicting(ids) => Admission::Foreign {
                app_id: None,
                reason: format!("the delivery names more than one app ({})", ids.join(", ")),
            },
        }
    }
}

/// Reads every place a delivery names its app. Ids over [`MAX_ID_BYTES`] are no app id anyone has.
pub fn attribute(json: Option<&Value>) -> Attribution {
    let Some(json) = json else {
        return Attribution::Missing;
    };
    let places = [
        json.get("meeting")
            .and_then(|m| m.get("organizedBy"))
            .and_then(|o| o.get("id")),
        json.get("recording").and_then(|r| r.get("organizationId")),
        json.get("organizedBy").and_then(|o| o.get("id")),
    ];
    let mut ids: Vec<String> = Vec::new();
    for id in places.into_iter().filter_map(lenient::text) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    match ids.len() {
        0 => Attribution::Missing,
        1 if ids[0].len() <= MAX_ID_BYTES => Attribution::App(ids.remove(0)),
        1 => Attribution::Missing,
        _ => Attribution::Conflicting(ids.into_iter().map(|id| id.chars().take(64).collect()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(id: &str) -> App {
        App {
            app_id: id.into(),
            name: None,
            account_id: "acc".into(),
            api_token: Secret::new("t"),
        }
    }

    #[test]
    fn every_documented_place_names_the_app() {
        let meeting = json!({"event": "meeting.ended", "meeting": {"organizedBy": {"id": "a"}}});
        let recording = json!({"event": "recording.statusUpdate", "recording": {"organizationId": "a"}});
        let chat = json!({"event": "meeting.chatSynced", "organizedBy": {"id": "a"}});
        let both = json!({"recording": {"organizationId": "a"}, "meeting": {"organizedBy": {"id": "a"}}});
        for body in [meeting, recording, chat, both] {
            assert_eq!(attribute(Some(&body)), Attribution::App("a".into()), "{body}");
        }
        assert_eq!(attribute(None), Attribution::Missing);
        assert_eq!(
            attribute(Some(&json!({"event": "meeting.started"}))),
            Attribution::Missing
        );
        let split = json!({"recording": {"organizationId": "a"}, "meeting": {"organizedBy": {"id": "b"}}});
        // In the order of the places read: the meeting's first.
        assert_eq!(
            attribute(Some(&split)),
            Attribution::Conflicting(vec!["b".into(), "a".into()])
        );
    }

    #[test]
    fn with_apps_configured_only_theirs_are_admitted_and_the_rest_fails_closed() {
        let apps = Apps::new(vec![app("ours")]);
        assert_eq!(
            apps.admit(&Attribution::App("ours".into())),
            Admission::Admitted(Some("ours".into()))
        );
        for attribution in [
            Attribution::App("theirs".into()),
            Attribution::Missing,
            Attribution::Conflicting(vec!["ours".into(), "theirs".into()]),
        ] {
            assert!(
                matches!(apps.admit(&attribution), Admission::Foreign { .. }),
                "{attribution:?}"
            );
        }
        let open = Apps::default();
        assert_eq!(
            open.admit(&Attribution::App("any".into())),
            Admission::Admitted(Some("any".into()))
        );
        assert_eq!(open.admit(&Attribution::Missing), Admission::Admitted(None));
    }
}
