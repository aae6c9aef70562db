//! Validated types of the service, free of HTTP and SQL: what a delivery is, what an ended session is, and what
//! it leaves behind (its artifacts).

pub mod access;
pub mod apps;
pub mod artifact;
pub mod delivery;
pub mod ended_session;
pub mod human;
pub mod job;
pub(crate) mod lenient;
pub mod limits;
pub mod live_session;
pub mod livestream;
pub mod names;
pub mod participant;
pub mod recording;
pub mod report;
pub mod secret;
pub mod trigger;

pub use access::{ApiToken, Scope};
pub use apps::{App, Apps};
pub use delivery::{DeliveryBody, DeliveryId, REALTIMEKIT_EVENTS, WEBHOOK_PATH, WebhookId};
pub use ended_session::{Classified, EndedSession, Reading, SessionSource, classify, read_delivery};
pub use secret::Secret;
pub use trigger::Trigger;

/// A sample payload of RealtimeKit's documentation (`tests/fixtures/{name}.json`), for the readers' tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}
