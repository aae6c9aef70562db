//! The identity of a delivery and the form in which its body is kept.

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Where RealtimeKit delivers: the receiver's path, below `server.public_url`.
pub const WEBHOOK_PATH: &str = "/webhooks/realtimekit";

/// The events RealtimeKit can send; a webhook may subscribe to any of them.
pub const REALTIMEKIT_EVENTS: [&str; 9] = [
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
];

/// What the service does with each event, as `config check` says it; `None` for one it keeps as `ignored` (and so
/// does not subscribe to by default).
pub fn event_use(event: &str) -> Option<&'static str> {
    Some(match event {
        "meeting.started" => "records the session as live until it ends (GET /sessions?status=live)",
        "meeting.ended" => "records the session and queues its follow-ups",
        "meeting.participantJoined" | "meeting.participantLeft" => {
            "builds the session's attendance (participants, and the report without asking the Sessions API)"
        }
        "recording.statusUpdate" => "records each recording and its files, and archives them once uploaded",
        "meeting.transcript" | "meeting.summary" | "meeting.chatSynced" => "records the file and archives it",
        "livestreaming.statusUpdate" => "records the livestream's status and playback URL (never its stream key)",
        _ => return None,
    })
}

/// The key deliveries are deduplicated on: the `rtk-uuid` header (the same across retries of one event), or the
/// SHA-256 of the body when a delivery carries no usable `rtk-uuid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryId(String);

const MAX_HEADER_ID_LEN: usize = 200;

impl DeliveryId {
    pub fn from_header_or_body(header: Option<&str>, body: &DeliveryBody) -> Self {
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

    pub fn from_body(body: &DeliveryBody) -> Self {
        Self(format!("sha256:{}", hex::encode(body.sha256())))
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

/// The exact bytes of a delivery, kept byte for byte whatever they are (so that an operator reads, and a replay
/// classifies, exactly what was signed), with their digest.
#[derive(Debug, Clone)]
pub struct DeliveryBody {
    bytes: Bytes,
    sha256: [u8; 32],
}

impl DeliveryBody {
    pub fn new(bytes: Bytes) -> Self {
        let sha256 = Sha256::digest(&bytes).into();
        Self { bytes, sha256 }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The SHA-256 of the exact bytes: a body recorded once is a duplicate whatever its `rtk-uuid`.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_id_is_used_when_usable_and_the_body_hash_otherwise() {
        let body = &DeliveryBody::new(Bytes::from_static(b"{}"));
        assert_eq!(
            DeliveryId::from_header_or_body(Some(" abc-123 "), body).as_str(),
            "abc-123"
        );
        let hashed = DeliveryId::from_body(body);
        assert_eq!(
            hashed.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        for unusable in [None, Some(""), Some("   "), Some("has space"), Some(&*"x".repeat(201))] {
            assert_eq!(DeliveryId::from_header_or_body(unusable, body), hashed, "{unusable:?}");
        }
    }
}
