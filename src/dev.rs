//! Tools for local trials, demos and the tests: make a key pair, and sign and send deliveries exactly the way
//! RealtimeKit does.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::json;

use crate::realtimekit::signature::WebhookSigner;

pub const PRIVATE_KEY_FILE: &str = "rtk-dev-private.pem";
pub const PUBLIC_KEY_FILE: &str = "rtk-dev-public.pem";

/// Writes a fresh RSA-2048 key pair into `dir`. A pair already there is kept, and said to be, unless `replace` is
/// set: a pinned public key in use elsewhere must not change under it.
pub fn keygen(dir: &Path, replace: bool) -> anyhow::Result<KeyPair> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    // A pair already there is kept (running the command again is harmless); one file alone is not a pair.
    if !replace && private.exists() && public.exists() {
        return Ok(KeyPair {
            private,
            public,
            written: false,
        });
    }
    if !replace && let Some(existing) = [&private, &public].into_iter().find(|path| path.exists()) {
        anyhow::bail!(
            "{} exists without its other half; keeping it (pass --force to write a new key pair over it)",
            existing.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (_, pems) = WebhookSigner::generate()?;
    write_private(&private, &pems.private_key_pem)?;
    std::fs::write(&public, &pems.public_key_pem).with_context(|| format!("writing {}", public.display()))?;
    Ok(KeyPair {
        private,
        public,
        written: true,
    })
}

/// The test key pair's files, and whether this run wrote them (or kept the ones there).
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
    pub written: bool,
}

fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// A delivery body with fresh ids and timestamps, shaped like RealtimeKit's: a `meeting.ended` that lasted 30
/// minutes and ended a minute ago, or another event for the same kind of meeting.
pub fn sample_body(event: &str) -> Vec<u8> {
    let ended = Utc::now() - Duration::minutes(1);
    let started = ended - Duration::minutes(30);
    let timestamp = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let meeting_id = uuid::Uuid::new_v4().to_string();
    let mut meeting = json!({
        "id": meeting_id,
        "sessionId": uuid::Uuid::new_v4().to_string(),
        "title": "Weekly sync",
        "roomName": meeting_id,
        "status": "LIVE",
        "createdAt": timestamp(started),
        "startedAt": timestamp(started),
        "organizedBy": {"id": "c94c437b-592a-4a39-b9e2-47ef1451e43b", "name": "Example organization"}
    });
    let mut body = json!({"event": event});
    if event == "meeting.ended" {
        meeting["endedAt"] = json!(timestamp(ended));
        body["reason"] = json!("ALL_PARTICIPANTS_LEFT");
    }
    body["meeting"] = meeting;
    serde_json::to_vec(&body).expect("a JSON value always serialises")
}

/// One signed delivery, as RealtimeKit sends it.
pub struct SignedDelivery {
    pub body: Vec<u8>,
    pub signature: String,
    pub delivery_id: String,
    pub webhook_id: String,
}

impl SignedDelivery {
    pub fn new(signer: &WebhookSigner, body: Vec<u8>) -> Self {
        Self {
            signature: signer.sign(&body),
            body,
            delivery_id: uuid::Uuid::new_v4().to_string(),
            webhook_id: "00000000-0000-4000-8000-00000000dev0".into(),
        }
    }

    pub fn request(&self, http: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        http.post(url)
            .header("content-type", "application/json")
            .header("rtk-signature", &self.signature)
            .header("rtk-uuid", &self.delivery_id)
            .header("rtk-webhook-id", &self.webhook_id)
            .body(self.body.clone())
    }
}
