//! The one message every kind sends of an occurrence: the same
//! JSON body, the same id on every attempt, and CloudEvents 1.0 attributes for the kinds that carry headers.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::followup::{FollowupError, JobInfo, Occurrence};
use crate::domain::Trigger;

/// The CloudEvents spec version the attributes follow.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";

/// One message of one occurrence: what the webhook signs and posts, and what the buses publish.
#[derive(Debug, Clone)]
pub struct Message {
    /// `msg_<32 hex>`: unique across installations and the same on every attempt of the job. Receivers dedupe on it
    /// (`webhook-id`, `Nats-Msg-Id`, AMQP `message_id`, SQS FIFO `MessageDeduplicationId`, `ce-id`).
    pub id: String,
    pub trigger: Trigger,
    /// The session the occurrence is of (CloudEvents `subject`; the SQS FIFO message group).
    pub session_id: String,
    pub time: DateTime<Utc>,
    /// CloudEvents `source`: this deployment (`server.public_url`, or `urn:rtk-sessions` before it is public).
    pub source: String,
    /// `{"type", "timestamp", "data"}` as JSON: identical on every attempt.
    pub body: Vec<u8>,
}

impl Message {
    pub fn new(occurrence: &Occurrence, job: &JobInfo, source: &str) -> Result<Self, FollowupError> {
        let time = occurrence.occurred_at;
        let body = serde_json::to_vec(&json!({
            "type": occurrence.trigger,
            "timestamp": time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": occurrence.data,
        }))
        .map_err(|e| FollowupError::Permanent(anyhow::Error::new(e).context("cannot serialise the message")))?;
        Ok(Self {
            id: format!("msg_{}", job.message_id.simple()),
            trigger: occurrence.trigger,
            session_id: occurrence.session_id.clone(),
            time,
            source: source.to_owned(),
            body,
        })
    }

    /// The CloudEvents 1.0 attributes in their header form (the binary content mode), and the body's type.
    pub fn headers(&self) -> [(&'static str, String); 7] {
        [
            ("ce-specversion", CLOUDEVENTS_SPEC_VERSION.to_owned()),
            ("ce-id", self.id.clone()),
            ("ce-type", self.trigger.as_str().to_owned()),
            ("ce-source", self.source.clone()),
            ("ce-time", self.time.to_rfc3339_opts(SecondsFormat::Millis, true)),
            ("ce-subject", self.session_id.clone()),
            ("content-type", "application/json".to_owned()),
        ]
    }
}

/// CloudEvents `source` for a deployment reached at `public_url`.
pub fn event_source(public_url: Option<&reqwest::Url>) -> String {
    match public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => "urn:rtk-sessions".to_owned(),
    }
}

/// `data` of an occurrence about a session and one more thing: the session's fields with `key` beside them.
pub fn session_with(session: &impl serde::Serialize, key: &str, value: Value) -> Value {
    let mut data = serde_json::to_value(session).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut data {
        fields.insert(key.to_owned(), value);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_the_same_on_every_attempt_and_carries_its_cloudevents_attributes() {
        let occurrence = Occurrence {
            trigger: Trigger::ArtifactArchived,
            session_id: "s-1".into(),
            ended: None,
            data: json!({"session_id": "s-1"}),
            occurred_at: DateTime::from_timestamp(1_700_000_000, 0).expect("instant"),
        };
        let job = |attempt| JobInfo {
            id: 7,
            attempt,
            message_id: uuid::Uuid::from_u128(0xabc),
        };
        let first = Message::new(&occurrence, &job(1), "https://sessions.example.com").expect("message");
        let again = Message::new(&occurrence, &job(2), "https://sessions.example.com").expect("message");
        assert_eq!(first.body, again.body);
        assert_eq!(first.id, "msg_00000000000000000000000000000abc");
        let headers = first.headers();
        let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(header("ce-id"), Some(first.id.as_str()));
        assert_eq!(header("ce-type"), Some("artifact.archived"));
        assert_eq!(header("ce-specversion"), Some("1.0"));
        assert_eq!(header("ce-time"), Some("2023-11-14T22:13:20.000Z"));
        let body: Value = serde_json::from_slice(&first.body).expect("JSON");
        assert_eq!(body["type"], "artifact.archived");
        assert_eq!(body["data"]["session_id"], "s-1");
    }
}
