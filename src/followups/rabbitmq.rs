//! `kind = "rabbitmq"`: publishes the message to an AMQP 0.9.1 exchange (RabbitMQ): persistent, `message_id` set to
//! the message id, `type` to the trigger, the CloudEvents attributes as `ce-*` headers. Publisher confirms and
//! `mandatory`: an attempt succeeds only when the broker confirmed the message and some queue took it; a message no
//! queue takes (returned), a negative confirm or a broken connection is a failed attempt, retried.
//!
//! One connection and one confirming channel per follow-up, made at the first attempt and made again after a
//! failure. Nothing is buffered here: an attempt publishes and waits for its confirm within the attempt timeout.

use std::sync::Arc;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use super::message::Message;
use super::receivers::redacted;
use crate::domain::Secret;
use crate::domain::job::FollowupKind;

/// AMQP's `delivery_mode` of a message the broker writes to disk.
const PERSISTENT: u8 = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// `amqp://user:pass@host:5672/vhost` (or `amqps://`): a secret, it holds the password.
    url: Secret,
    /// The exchange; `""` is the default exchange, which routes by queue name.
    exchange: String,
    routing_key: String,
}

pub struct RabbitmqFollowup {
    name: String,
    url: Secret,
    shown: String,
    exchange: String,
    routing_key: String,
    /// The channel in use (with its connection, which closes when dropped); `None` until the first attempt and
    /// after a failure.
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitmqFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let options: Options = options(raw)?;
        let parsed = url::Url::parse(options.url.expose())
            .map_err(|_| "url must be an AMQP URL such as amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())?;
        if !matches!(parsed.scheme(), "amqp" | "amqps") {
            return Err("url must start with amqp:// or amqps://".to_owned());
        }
        for (key, value) in [("exchange", &options.exchange), ("routing_key", &options.routing_key)] {
            if value.len() > 255 {
                return Err(format!("{key} is longer than AMQP allows (255 bytes)"));
            }
        }
        Ok(Arc::new(Self {
            name,
            shown: redacted(&parsed),
            url: options.url,
            exchange: options.exchange,
            routing_key: options.routing_key,
            channel: Mutex::new(None),
        }))
    }

    /// The open channel, connecting first when there is none (or it broke).
    async fn channel(&self) -> Result<Channel, FollowupError> {
        let mut held = self.channel.lock().await;
        if let Some((connection, channel)) = held.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *held = None;
        let what = || format!("connecting to {}", self.shown);
        let connection = Connection::connect(self.url.expose(), ConnectionProperties::default())
            .await
            .map_err(|e| FollowupError::retry(e, what()))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| FollowupError::retry(e, what()))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| FollowupError::retry(e, what()))?;
        *held = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Forgets the channel after a failure: the next attempt connects again.
    async fn reset(&self) {
        self.channel.lock().await.take();
    }
}

/// The message's AMQP properties: persistent, its id, its type, and the CloudEvents attributes as headers.
fn properties(message: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in message.headers() {
        headers.insert(ShortString::from(name), AMQPValue::LongString(LongString::from(value)));
    }
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(message.id.as_str()))
        .with_type(ShortString::from(message.trigger.as_str()))
        .with_timestamp(u64::try_from(message.time.timestamp()).unwrap_or(0))
        .with_headers(headers)
}

#[async_trait::async_trait]
impl Followup for RabbitmqFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Rabbitmq
    }

    fn target(&self) -> String {
        format!(
            "{} exchange {:?} routing key {:?}",
            self.shown, self.exchange, self.routing_key
        )
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let message = Message::new(occurrence, &context.job, &context.event_source)?;
        let channel = self.channel().await?;
        let what = || format!("publishing to {} (exchange {:?})", self.shown, self.exchange);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let published = channel
            .basic_publish(
                ShortString::from(self.exchange.as_str()),
                ShortString::from(self.routing_key.as_str()),
                options,
                &message.body,
                properties(&message),
            )
            .await;
        let confirmation = match published {
            Ok(confirm) => confirm.await,
            Err(error) => Err(error),
        };
        match confirmation {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(_returned))) => Err(FollowupError::Retryable(anyhow::anyhow!(
                "{}: no queue is bound for routing key {:?}, so the broker returned the message",
                what(),
                self.routing_key
            ))),
            Ok(Confirmation::Nack(_)) => Err(FollowupError::Retryable(anyhow::anyhow!(
                "{}: the broker refused the message (negative confirm)",
                what()
            ))),
            Ok(Confirmation::NotRequested) => {
                self.reset().await;
                Err(FollowupError::Retryable(anyhow::anyhow!(
                    "{}: the channel had no publisher confirms",
                    what()
                )))
            }
            Err(error) => {
                self.reset().await;
                Err(FollowupError::retry(error, what()))
            }
        }
    }
}
