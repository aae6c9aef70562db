//! `kind = "sqs"`: sends the message to an Amazon SQS queue (or a service that speaks its protocol), with the
//! CloudEvents attributes as message attributes (`ce-id`, `ce-type`, ..., `content-type`). A FIFO queue (its URL
//! ends in `.fifo`) gets `MessageDeduplicationId` = the message id, so a retry within SQS's 5-minute window is
//! dropped by the queue, and `MessageGroupId` = the session id, so one session's messages keep their order.
//!
//! Region and credentials come from the usual AWS settings (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, profiles, web
//! identity, the instance's role...), unless the entry sets `region` (else an AWS queue URL's own region is used),
//! `access_key_id` and `secret_access_key`;
//! `endpoint_url` points at another SQS-speaking service. The client is made at the first attempt.

use std::sync::Arc;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use super::message::Message;
use super::receivers::redacted;
use crate::domain::Secret;
use crate::domain::job::FollowupKind;

/// The errors that say the message itself is refused: another attempt sends the same message.
const REFUSED_MESSAGE: [&str; 5] = [
    "InvalidMessageContents",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidParameterValue",
    "MissingParameter",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    queue_url: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    access_key_id: Option<Secret>,
    #[serde(default)]
    secret_access_key: Option<Secret>,
}

pub struct SqsFollowup {
    name: String,
    queue_url: String,
    shown: String,
    fifo: bool,
    region: Option<String>,
    endpoint_url: Option<String>,
    credentials: Option<(Secret, Secret)>,
    client: OnceCell<aws_sdk_sqs::Client>,
}

impl SqsFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let options: Options = options(raw)?;
        let parsed = url::Url::parse(&options.queue_url)
            .map_err(|_| "queue_url must be the queue's URL, https://sqs.<region>.amazonaws.com/<account>/<queue>")?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("queue_url must be an http(s) URL".to_owned());
        }
        if let Some(endpoint) = &options.endpoint_url {
            let endpoint = url::Url::parse(endpoint).map_err(|_| "endpoint_url is not a URL".to_owned())?;
            if !matches!(endpoint.scheme(), "http" | "https") {
                return Err("endpoint_url must be an http(s) URL".to_owned());
            }
        }
        let credentials = match (options.access_key_id, options.secret_access_key) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            _ => return Err("set both access_key_id and secret_access_key, or neither".to_owned()),
        };
        Ok(Arc::new(Self {
            name,
            fifo: parsed.path().ends_with(".fifo"),
            shown: redacted(&parsed),
            region: options
                .region
                .filter(|r| !r.trim().is_empty())
                .or_else(|| region_of(&parsed)),
            queue_url: options.queue_url,
            endpoint_url: options.endpoint_url,
            credentials,
            client: OnceCell::new(),
        }))
    }

    async fn client(&self) -> &aws_sdk_sqs::Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(region) = &self.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                if let Some(endpoint) = &self.endpoint_url {
                    loader = loader.endpoint_url(endpoint.clone());
                }
                if let Some((id, secret)) = &self.credentials {
                    let static_credentials = aws_sdk_sqs::config::Credentials::new(
                        id.expose(),
                        secret.expose(),
                        None,
                        None,
                        "rtk-sessions configuration",
                    );
                    loader = loader.credentials_provider(static_credentials);
                }
                aws_sdk_sqs::Client::new(&loader.load().await)
            })
            .await
    }
}

/// The region an AWS queue URL names (`https://sqs.<region>.amazonaws.com/...`): the queue's, whatever
/// `AWS_REGION` says. Other services' URLs name none.
fn region_of(queue_url: &url::Url) -> Option<String> {
    let host = queue_url.host_str()?;
    let region = host.strip_prefix("sqs.")?.strip_suffix(".amazonaws.com")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

fn attribute(value: String) -> Result<MessageAttributeValue, FollowupError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| FollowupError::Permanent(anyhow::Error::new(e).context("building a message attribute")))
}

#[async_trait::async_trait]
impl Followup for SqsFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Sqs
    }

    fn target(&self) -> String {
        let queue = self.queue_url.rsplit('/').next().unwrap_or_default();
        format!("{} queue {queue}", self.shown)
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let message = Message::new(occurrence, &context.job, &context.event_source)?;
        let body = String::from_utf8(message.body.clone())
            .map_err(|e| FollowupError::Permanent(anyhow::Error::new(e).context("the message is not UTF-8")))?;
        let mut send = self
            .client()
            .await
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body);
        for (name, value) in message.headers() {
            send = send.message_attributes(name, attribute(value)?);
        }
        if self.fifo {
            send = send
                .message_deduplication_id(&message.id)
                .message_group_id(&message.session_id);
        }
        let what = format!("sending to {}", self.target());
        match send.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(refused)) if REFUSED_MESSAGE.contains(&refused.err().code().unwrap_or("")) => {
                let code = refused.err().code().unwrap_or_default().to_owned();
                let detail = refused.err().message().unwrap_or_default().to_owned();
                Err(FollowupError::Permanent(anyhow::anyhow!(
                    "{what}: SQS refused the message: {code}: {detail}"
                )))
            }
            Err(error) => Err(FollowupError::Retryable(anyhow::anyhow!(
                "{what}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(error)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_queue_url_names_its_region_and_others_do_not() {
        let region = |url: &str| region_of(&url::Url::parse(url).expect("URL"));
        assert_eq!(
            region("https://sqs.eu-west-1.amazonaws.com/123/q.fifo").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region("http://127.0.0.1:4566/000000000000/q"), None);
        assert_eq!(region("https://sqs.amazonaws.com/123/q"), None);
    }
}
