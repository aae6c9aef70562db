//! `kind = "nats"`: publishes the message to a NATS JetStream subject and waits for the stream's acknowledgement.
//! `Nats-Msg-Id` is the message id, so a retry within the stream's duplicate window (`duplicate_window`, 2 minutes
//! by default) is stored once; no acknowledgement (no stream takes the subject, the server is down, the ack timed
//! out) is a failed attempt, retried.
//!
//! One connection per follow-up, made at its first attempt (a server that is down does not stop the start) and kept;
//! the client reconnects by itself. What it buffers while disconnected is bounded (`CLIENT_CAPACITY` messages), and
//! each attempt's wait is bounded by the attempt timeout.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use super::message::Message;
use super::receivers::redacted;
use crate::domain::Secret;
use crate::domain::job::FollowupKind;

/// Messages the client holds while it cannot send (the server is down): past it, an attempt waits, then times out.
const CLIENT_CAPACITY: usize = 256;
/// How long a publish waits for JetStream's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// `nats://host:4222` (or `tls://`); credentials in it (`nats://user:pass@host`) are a secret.
    url: Secret,
    subject: String,
}

pub struct NatsFollowup {
    name: String,
    url: Secret,
    /// What operators see of the URL.
    shown: String,
    subject: String,
    context: OnceCell<jetstream::Context>,
}

impl NatsFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let options: Options = options(raw)?;
        let parsed = url::Url::parse(options.url.expose())
            .map_err(|_| "url must be a NATS URL such as nats://127.0.0.1:4222".to_owned())?;
        if !matches!(parsed.scheme(), "nats" | "tls") {
            return Err("url must start with nats:// or tls://".to_owned());
        }
        let subject = options.subject.trim().to_owned();
        if subject.is_empty() || subject.contains(char::is_whitespace) || subject.contains(['*', '>']) {
            return Err(format!(
                "subject {subject:?} must be one subject, without spaces or wildcards"
            ));
        }
        Ok(Arc::new(Self {
            name,
            shown: redacted(&parsed),
            url: options.url,
            subject,
            context: OnceCell::new(),
        }))
    }

    async fn jetstream(&self) -> Result<&jetstream::Context, FollowupError> {
        self.context
            .get_or_try_init(|| async {
                let client = async_nats::ConnectOptions::new()
                    .name(concat!("rtk-sessions/", env!("CARGO_PKG_VERSION")))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .client_capacity(CLIENT_CAPACITY)
                    .connect(self.url.expose())
                    .await
                    .map_err(|e| FollowupError::retry(e, format!("connecting to {}", self.shown)))?;
                let mut context = jetstream::new(client);
                context.set_timeout(ACK_TIMEOUT);
                Ok(context)
            })
            .await
    }
}

#[async_trait::async_trait]
impl Followup for NatsFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Nats
    }

    fn target(&self) -> String {
        format!("{} subject {}", self.shown, self.subject)
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let message = Message::new(occurrence, &context.job, &context.event_source)?;
        let jetstream = self.jetstream().await?;
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in message.headers() {
            headers.insert(name, value.as_str());
        }
        let publish = jetstream::message::PublishMessage::build()
            .payload(message.body.into())
            .headers(headers)
            .message_id(message.id.as_str());
        let what = || format!("publishing to {} on {}", self.subject, self.shown);
        let ack = jetstream
            .send_publish(self.subject.clone(), publish)
            .await
            .map_err(|e| FollowupError::retry(e, what()))?;
        let ack = ack.await.map_err(|e| FollowupError::retry(e, what()))?;
        if ack.duplicate {
            tracing::info!(stream = %ack.stream, "the stream already had this message (an earlier attempt's)");
        }
        Ok(())
    }
}
