//! `livestreaming.statusUpdate`: a meeting's livestream went live, offline or idle. What is kept of it is the stream,
//! its status and its playback URL. The stream key (whoever has it can stream into the meeting) and the ingest
//! server are never read: they stay in the raw delivery alone, which only an operator with `read` scope sees.

use serde_json::Value;

use super::lenient;
use super::limits::{MAX_ID_BYTES, MAX_URL_BYTES, check_lengths};

pub const LIVESTREAMING_STATUS_UPDATE: &str = "livestreaming.statusUpdate";

/// What one `livestreaming.statusUpdate` says.
#[derive(Debug, Clone, PartialEq)]
pub struct LivestreamUpdate {
    pub session_id: String,
    pub stream_id: String,
    /// `LIVE`, `OFFLINE`, `IDLE`, or another status RealtimeKit adds (upper-cased, kept as it is).
    pub status: String,
    /// Where viewers watch (an HLS URL); not a secret.
    pub playback_url: Option<String>,
}

impl LivestreamUpdate {
    /// `Ok(None)` for a Dyte-era update (only `streamId` and `status`, no meeting): nothing names its session, so it
    /// is kept as `ignored`.
    pub fn from_payload(payload: &Value) -> Result<Option<Self>, String> {
        let session_id = (payload.get("meeting"))
            .and_then(|m| lenient::text(m.get("sessionId")))
            .or_else(|| lenient::text(payload.get("sessionId")));
        let Some(session_id) = session_id else {
            return Ok(None);
        };
        let Some(stream_id) = lenient::text(payload.get("streamId")) else {
            return Err(format!("{LIVESTREAMING_STATUS_UPDATE} without a usable streamId"));
        };
        let Some(status) = lenient::text(payload.get("status")).map(|s| s.to_ascii_uppercase()) else {
            return Err(format!("{LIVESTREAMING_STATUS_UPDATE} without a usable status"));
        };
        let update = Self {
            session_id,
            stream_id,
            status,
            playback_url: lenient::text(payload.get("playbackUrl")),
        };
        check_lengths(&[
            ("meeting.sessionId", Some(&update.session_id), MAX_ID_BYTES),
            ("streamId", Some(&update.stream_id), MAX_ID_BYTES),
            ("status", Some(&update.status), MAX_ID_BYTES),
            ("playbackUrl", update.playback_url.as_deref(), MAX_URL_BYTES),
        ])?;
        Ok(Some(update))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_sample_is_read_and_the_stream_key_is_not() {
        let sample: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/livestreaming.statusUpdate.json")).expect("JSON");
        let update = LivestreamUpdate::from_payload(&sample)
            .expect("usable")
            .expect("a session");
        assert_eq!(update.session_id, "05e57591-d89e-45c9-ae44-08dc1eaad0e0");
        assert_eq!(update.stream_id, "f1b5a7a4-3c6e-4d0a-9e7e-2b6f0c1d8e9a");
        assert_eq!(update.status, "LIVE");
        assert!(
            !format!("{update:?}").contains("sk_example"),
            "the stream key is never read"
        );
        let dyte = serde_json::json!({"event": LIVESTREAMING_STATUS_UPDATE, "streamId": "s", "status": "LIVE"});
        assert_eq!(LivestreamUpdate::from_payload(&dyte), Ok(None));
    }
}
