//! The identity of a delivery and the form in which its body is kept.

use sha2::{Digest, Sha256};

/// The key deliveries are deduplicated on: the `rtk-uuid` header (the same across retries of one event), or the
/// SHA-256 of the body when a delivery carries no usable `rtk-uuid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryId(String);

const MAX_HEADER_ID_LEN: usize = 200;

impl DeliveryId {
    pub fn from_header_or_body(header: Option<&str>, body: &[u8]) -> Self {
        header
            .and_then(Self::parse_header)
            .unwrap_or_else(|| Self::from_body(body))
    }

    /// Printable ASCII, at most 200 characters: anything else is not an id RealtimeKit would send.
    fn parse_header(value: &str) -> Option<Self> {
        let value = value.trim();
        let usable =
            !value.is_empty() && value.len() <= MAX_HEADER_ID_LEN && value.bytes().all(|b| b.is_ascii_graphic());
        usable.then(|| Self(value.to_owned()))
    }

    pub fn from_body(body: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(body))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `rtk-webhook-id` header: which webhook configuration sent the delivery. Informational only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookId(String);

impl WebhookId {
    pub fn from_header(value: Option<&str>) -> Option<Self> {
        let value = value?.trim();
        let usable =
            !value.is_empty() && value.len() <= MAX_HEADER_ID_LEN && value.bytes().all(|b| b.is_ascii_graphic());
        usable.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the body is kept: as `jsonb` when Postgres can hold it so, otherwise as its exact bytes.
#[derive(Debug, Clone, Copy)]
pub enum DeliveryPayload<'a> {
    Json(&'a str),
    Raw(&'a [u8]),
}

impl<'a> DeliveryPayload<'a> {
    /// `body` must already be known to be valid JSON for the `Json` form to be chosen.
    pub fn for_json_body(body: &'a [u8]) -> Self {
        match std::str::from_utf8(body) {
            // jsonb cannot hold the NUL character: such a body is kept byte for byte instead.
            Ok(text) if !contains_escaped_nul(body) => Self::Json(text),
            _ => Self::Raw(body),
        }
    }

    pub fn json(&self) -> Option<&'a str> {
        match self {
            Self::Json(text) => Some(text),
            Self::Raw(_) => None,
        }
    }

    pub fn raw(&self) -> Option<&'a [u8]> {
        match self {
            Self::Json(_) => None,
            Self::Raw(bytes) => Some(bytes),
        }
    }
}

fn contains_escaped_nul(body: &[u8]) -> bool {
    body.windows(6)
        .any(|w| w[0] == b'\\' && (w[1] | 0x20) == b'u' && &w[2..] == b"0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_id_is_used_when_usable_and_the_body_hash_otherwise() {
        let body = b"{}";
        assert_eq!(
            DeliveryId::from_header_or_body(Some(" abc-123 "), body).as_str(),
            "abc-123"
        );
        let hashed = DeliveryId::from_body(body);
        assert!(hashed.as_str().starts_with("sha256:"));
        for unusable in [None, Some(""), Some("   "), Some("has space"), Some(&*"x".repeat(201))] {
            assert_eq!(DeliveryId::from_header_or_body(unusable, body), hashed, "{unusable:?}");
        }
    }

    #[test]
    fn a_body_with_an_escaped_nul_is_kept_raw() {
        assert!(matches!(
            DeliveryPayload::for_json_body(br#"{"a":"b"}"#),
            DeliveryPayload::Json(_)
        ));
        assert!(matches!(
            DeliveryPayload::for_json_body(br#"{"a":"\u0000"}"#),
            DeliveryPayload::Raw(_)
        ));
        assert!(matches!(
            DeliveryPayload::for_json_body(br#"{"a":"\U0000"}"#),
            DeliveryPayload::Raw(_)
        ));
    }
}
