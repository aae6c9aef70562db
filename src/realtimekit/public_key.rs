//! The key that verifies deliveries: pinned in the configuration, or fetched from RealtimeKit's well-known document
//! and cached.
//!
//! A fetched key may rotate without notice. When a signature fails against it, the key is fetched again (one fetch
//! at a time, at most once per `refetch_interval`) and the signature tried once more. While another fetch is not yet
//! allowed, the failure is reported as retryable: a genuine delivery signed with a new key is then retried by
//! RealtimeKit rather than dropped for good, and a forged one gains nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::signature::PublicKey;
use crate::background::{self, Attempt, Backoff};
use crate::config::RealtimeKitSettings;
use crate::domain::DeliveryBody;

/// Why a signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no verification key has been loaded yet")]
    NoKeyYet,
    #[error("the signature does not verify")]
    Invalid,
    #[error("the signature does not verify against the cached key, and the key may not be refetched yet")]
    RefetchNotAllowedYet { retry_after: Duration },
    #[error("the signature does not verify against the cached key, and refetching the key failed")]
    RefetchFailed,
}

enum Source {
    Pinned,
    Fetched { url: String, http: reqwest::Client },
}

pub struct VerificationKeys {
    source: Source,
    current: RwLock<Option<Arc<PublicKey>>>,
    /// Bumped on every key change, so a waiter for the refetch lock can tell that someone else already refetched.
    generation: AtomicU64,
    /// When the key was last fetched (or a fetch tried); held across a fetch so that only one runs at a time.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    last_error: RwLock<Option<String>>,
    refetch_interval: Duration,
}

/// The key's state, for `/readyz`.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub loaded: bool,
    /// `pinned` or `fetched`.
    pub source: &'static str,
    /// Why the last fetch failed, while no key is loaded (may name the URL: for the log and operators only).
    pub last_error: Option<String>,
}

impl VerificationKeys {
    /// The key pinned by `realtimekit.public_key_pem` or `public_key_file`, or else the key fetched from
    /// `realtimekit.public_key_url`. A pinned key that cannot be read or parsed stops the start, naming the setting.
    pub fn from_settings(settings: &RealtimeKitSettings, http: reqwest::Client) -> anyhow::Result<Self> {
        let pinned = if !settings.public_key_pem.is_empty() {
            Some(("realtimekit.public_key_pem", settings.public_key_pem.clone()))
        } else if !settings.public_key_file.is_empty() {
            let path = &settings.public_key_file;
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("realtimekit.public_key_file: cannot read {path}"))?;
            Some(("realtimekit.public_key_file", pem))
        } else {
            None
        };
        if let Some((key, pem)) = pinned {
            let public_key =
                PublicKey::from_pem(&pem).with_context(|| format!("{key}: not a usable RSA public key"))?;
            tracing::info!("verifying deliveries with the pinned public key; nothing is fetched");
            return Ok(Self::pinned(public_key));
        }
        Ok(Self::fetched(
            settings.public_key_url.clone(),
            http,
            settings.public_key_refetch_interval,
        ))
    }

    pub fn pinned(key: PublicKey) -> Self {
        Self::new(Source::Pinned, Some(key), Duration::MAX)
    }

    /// A key fetched from `url`; nothing is loaded until [`VerificationKeys::load_until_ready`] or a refetch runs.
    pub fn fetched(url: String, http: reqwest::Client, refetch_interval: Duration) -> Self {
        Self::new(Source::Fetched { url, http }, None, refetch_interval)
    }

    fn new(source: Source, key: Option<PublicKey>, refetch_interval: Duration) -> Self {
        Self {
            source,
            current: RwLock::new(key.map(Arc::new)),
            generation: AtomicU64::new(0),
            last_fetch: tokio::sync::Mutex::new(None),
            last_error: RwLock::new(None),
            refetch_interval,
        }
    }

    fn current(&self) -> (Option<Arc<PublicKey>>, u64) {
        let generation = self.generation.load(Ordering::Acquire);
        let key = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        (key, generation)
    }

    pub fn status(&self) -> KeyStatus {
        let source = match self.source {
            Source::Pinned => "pinned",
            Source::Fetched { .. } => "fetched",
        };
        let loaded = self.current().0.is_some();
        let last_error = if loaded {
            None
        } else {
            self.last_error.read().unwrap_or_else(|p| p.into_inner()).clone()
        };
        KeyStatus {
            loaded,
            source,
            last_error,
        }
    }

    /// Verifies `signature` over `body`, refetching a rotated key when that is allowed.
    pub async fn verify(&self, body: &DeliveryBody, signature: &[u8]) -> Result<(), VerifyError> {
        let (key, seen_generation) = self.current();
        let Some(key) = key else {
            return Err(VerifyError::NoKeyYet);
        };
        if key.verifies(body, signature) {
            return Ok(());
        }
        crate::observability::signature_failure();
        let Source::Fetched { url, http } = &self.source else {
            return Err(VerifyError::Invalid);
        };

        let mut last_fetch = self.last_fetch.lock().await;
        let (key, generation) = self.current();
        if generation != seen_generation {
            // Another request refetched while this one waited: try the key it brought.
            if key.is_some_and(|key| key.verifies(body, signature)) {
                return Ok(());
            }
        }
        if let Some(at) = *last_fetch {
            let since = at.elapsed();
            if since < self.refetch_interval {
                let retry_after = (self.refetch_interval - since).max(Duration::from_secs(1));
                return Err(VerifyError::RefetchNotAllowedYet { retry_after });
            }
        }
        *last_fetch = Some(Instant::now());
        tracing::info!("a signature failed against the cached RealtimeKit key; refetching the key");
        let before = self.generation.load(Ordering::Acquire);
        let result = self.fetch_and_store(url, http).await;
        let outcome = match &result {
            Ok(_) if self.generation.load(Ordering::Acquire) != before => "changed",
            Ok(_) => "unchanged",
            Err(_) => "failed",
        };
        crate::observability::key_refetch(outcome);
        match result {
            Ok(key) if key.verifies(body, signature) => Ok(()),
            Ok(_) => Err(VerifyError::Invalid),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "refetching the RealtimeKit public key failed");
                Err(VerifyError::RefetchFailed)
            }
        }
    }

    async fn fetch_and_store(&self, url: &str, http: &reqwest::Client) -> anyhow::Result<Arc<PublicKey>> {
        let result = fetch_public_key(http, url).await;
        match result {
            Ok(key) => {
                let key = Arc::new(key);
                let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
                let changed = current.as_deref() != Some(&*key);
                if changed {
                    *current = Some(key.clone());
                    self.generation.fetch_add(1, Ordering::AcqRel);
                    tracing::info!(url, "loaded the RealtimeKit webhook public key");
                }
                *self.last_error.write().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(current.clone().unwrap_or(key))
            }
            Err(error) => {
                *self.last_error.write().unwrap_or_else(|p| p.into_inner()) = Some(format!("{error:#}"));
                Err(error)
            }
        }
    }

    /// Fetches the key until one is loaded, backing off between failures; returns at once for a pinned key.
    pub async fn load_until_ready(self: Arc<Self>, shutdown: CancellationToken) {
        let Source::Fetched { url, http } = &self.source else {
            return;
        };
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        let keys = &self;
        background::retry_until_done(&shutdown, backoff, |retry_in| async move {
            let mut last_fetch = keys.last_fetch.lock().await;
            if keys.current().0.is_some() {
                return Attempt::Done;
            }
            *last_fetch = Some(Instant::now());
            match keys.fetch_and_store(url, http).await {
                Ok(_) => Attempt::Done,
                Err(error) => {
                    tracing::warn!(
                        url,
                        error = %format!("{error:#}"),
                        retry_in_secs = retry_in.as_secs_f64(),
                        "cannot fetch the RealtimeKit webhook public key yet; deliveries are answered 503 until it loads"
                    );
                    Attempt::Retry
                }
            }
        })
        .await;
    }
}

#[derive(Deserialize)]
struct WellKnownDocument {
    data: Option<WellKnownData>,
    #[serde(rename = "publicKey")]
    public_key: Option<String>,
}

#[derive(Deserialize)]
struct WellKnownData {
    #[serde(rename = "publicKey", alias = "public_key")]
    public_key: Option<String>,
}

/// `GET` the well-known document: `{"success":true,"data":{"publicKey":"-----BEGIN PUBLIC KEY-----..."}}`.
pub async fn fetch_public_key(http: &reqwest::Client, url: &str) -> anyhow::Result<PublicKey> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("GET {url} answered {status}");
    }
    let document: WellKnownDocument = response
        .json()
        .await
        .with_context(|| format!("GET {url}: the answer is not the expected JSON document"))?;
    let pem = document
        .data
        .and_then(|data| data.public_key)
        .or(document.public_key)
        .with_context(|| format!("GET {url}: the answer has no data.publicKey"))?;
    PublicKey::from_pem(&pem).with_context(|| format!("GET {url}: data.publicKey is unusable"))
}
