//! Secrets: tokens, passwords and keys that the service uses but never shows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value that must never reach a log line, an error body or a printed configuration: its `Debug` is
/// `[redacted]`, and it serializes as [`Secret::shown`].
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call it only where the value is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What may be shown of it: nothing, except the parts of a connection URL that are not secret (its scheme,
    /// user, host, port and path; the password and any query are left out). Empty stays empty.
    pub fn shown(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        // An http(s) URL is left out whole: a Slack webhook's secret is its path.
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.has_host() && url.scheme() != "https" && url.scheme() != "http" => {
                let _ = url.set_password(url.password().map(|_| "redacted"));
                url.set_query(None);
                url.to_string()
            }
            _ => "[redacted]".to_owned(),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.shown())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
