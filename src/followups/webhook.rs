//! `kind = "webhook"`: POSTs the message to a URL, signed the Standard Webhooks way, so the receiver can verify it
//! with any Standard Webhooks library: `webhook-id` (the same on every retry of the job), `webhook-timestamp`, and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the decoded `whsec_` secret. The
//! CloudEvents attributes ride along as `ce-*` headers.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use super::message::Message;
use super::receivers::{http_url, post_to_receiver, redacted};
use crate::domain::Secret;
use crate::domain::job::FollowupKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    url: String,
    secret: Secret,
}

pub struct WebhookFollowup {
    name: String,
    url: reqwest::Url,
    key: Vec<u8>,
}

impl WebhookFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let options: Options = options(raw)?;
        let url = http_url(&options.url)?;
        let key = standard_webhook_key(options.secret.expose())?;
        Ok(Arc::new(Self { name, url, key }))
    }
}

/// The key of a Standard Webhooks secret: the base64 after `whsec_`.
pub fn standard_webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or_else(|| "secret must be a Standard Webhooks secret: whsec_<base64>".to_owned())?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "secret: the part after whsec_ is not base64".to_owned())?;
    if key.len() < 16 {
        return Err("secret: the key must be at least 16 bytes".into());
    }
    Ok(key)
}

/// The `webhook-signature` header value for one message.
pub fn sign_standard_webhook(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[async_trait::async_trait]
impl Followup for WebhookFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Webhook
    }

    fn target(&self) -> String {
        redacted(&self.url)
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let message = Message::new(occurrence, &context.job, &context.event_source)?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign_standard_webhook(&self.key, &message.id, timestamp, &message.body);
        let mut request = context.http.post(self.url.clone());
        for (name, value) in message.headers() {
            request = request.header(name, value);
        }
        let request = request
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body);
        post_to_receiver(&self.url, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let key = standard_webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let signature = sign_standard_webhook(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_that_are_not_standard_webhooks_secrets_are_refused() {
        assert!(standard_webhook_key("plain").is_err());
        assert!(standard_webhook_key("whsec_!!!").is_err());
        assert!(standard_webhook_key("whsec_c2hvcnQ=").is_err());
    }
}
