//! What a session leaves behind at RealtimeKit (recordings, a transcript, a summary, a chat export), as the later
//! events announce them. RealtimeKit deletes these files after 7 days; the service archives a copy of each.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::ended_session::{MAX_ID_BYTES, MAX_TEXT_BYTES};
use super::lenient;
use super::names::UnknownValue;

pub const RECORDING_STATUS_UPDATE: &str = "recording.statusUpdate";
pub const MEETING_TRANSCRIPT: &str = "meeting.transcript";
pub const MEETING_SUMMARY: &str = "meeting.summary";
pub const MEETING_CHAT_SYNCED: &str = "meeting.chatSynced";

/// An artifact not archived yet whose source RealtimeKit deletes within this many hours is "at risk": what the
/// console's overview counts, `artifacts list --at-risk` lists by default, and the `RtkArtifactAtRisk` alert says.
pub const AT_RISK_HOURS: u32 = 48;
/// A download URL is pre-signed and can be long, but not this long.
const MAX_URL_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    Recording,
    Transcript,
    Summary,
    Chat,
}

impl ArtifactKind {
    pub const ALL: [Self; 4] = [Self::Recording, Self::Transcript, Self::Summary, Self::Chat];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Transcript => "transcript",
            Self::Summary => "summary",
            Self::Chat => "chat",
        }
    }

    /// The event that announces it.
    pub fn event(self) -> &'static str {
        match self {
            Self::Recording => RECORDING_STATUS_UPDATE,
            Self::Transcript => MEETING_TRANSCRIPT,
            Self::Summary => MEETING_SUMMARY,
            Self::Chat => MEETING_CHAT_SYNCED,
        }
    }

    /// The file extension when neither the file name nor the URL gives one.
    pub fn default_extension(self) -> &'static str {
        match self {
            Self::Recording => "mp4",
            Self::Transcript | Self::Chat => "csv",
            Self::Summary => "md",
        }
    }
}

impl TryFrom<String> for ArtifactKind {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "artifact kind", text)
    }
}

/// Where the archived copy of an artifact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactState {
    /// Known, not archived yet (a recording still uploading at RealtimeKit stays here until it is uploaded).
    Announced,
    /// An archive run is copying it.
    Archiving,
    /// Copied to the archive, its size checked and its SHA-256 recorded.
    Archived,
    /// The last copy failed; the archive follow-up tries again.
    Failed,
    /// RealtimeKit no longer has it (or never produced it): never tried again.
    Lost,
}

impl ArtifactState {
    pub const ALL: [Self; 5] = [
        Self::Announced,
        Self::Archiving,
        Self::Archived,
        Self::Failed,
        Self::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Announced => "announced",
            Self::Archiving => "archiving",
            Self::Archived => "archived",
            Self::Failed => "failed",
            Self::Lost => "lost",
        }
    }
}

impl TryFrom<String> for ArtifactState {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "artifact state", text)
    }
}

/// A recording's place in its life at RealtimeKit. A status update never moves a recording back: an `UPLOADING`
/// that arrives after `UPLOADED` changes nothing. A status this list does not know ranks lowest.
pub fn recording_status_rank(status: &str) -> i16 {
    match status {
        "INVOKED" => 1,
        "RECORDING" => 2,
        "UPLOADING" => 3,
        "UPLOADED" => 4,
        "ERRORED" => 5,
        _ => 0,
    }
}

/// The recording status with a usable download URL, and the one that means there will never be a file.
pub const RECORDING_UPLOADED: &str = "UPLOADED";
pub const RECORDING_ERRORED: &str = "ERRORED";

/// What one event (or one API answer) says of one artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub session_id: String,
    pub meeting_id: Option<String>,
    pub organization_id: Option<String>,
    pub kind: ArtifactKind,
    /// The recording id; empty for the other kinds (a session has one of each).
    pub artifact_id: String,
    /// RealtimeKit's recording status.
    pub status: Option<String>,
    pub download_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<i64>,
    pub file_name: Option<String>,
    pub duration_secs: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

impl Announcement {
    pub fn status_rank(&self) -> i16 {
        self.status.as_deref().map_or(0, recording_status_rank)
    }

    /// Reads a `recording.statusUpdate`, `meeting.transcript`, `meeting.summary` or `meeting.chatSynced` payload.
    pub fn from_payload(kind: ArtifactKind, payload: &Value) -> Result<Self, String> {
        let meeting = payload.get("meeting").filter(|m| m.is_object());
        let in_meeting = |name: &str| meeting.and_then(|m| m.get(name)).or_else(|| payload.get(name));
        let organization = in_meeting("organizedBy").and_then(|o| o.get("id"));
        let mut announcement = Self {
            session_id: String::new(),
            meeting_id: lenient::text(in_meeting("id")).or_else(|| lenient::text(payload.get("meetingId"))),
            organization_id: lenient::text(organization),
            kind,
            artifact_id: String::new(),
            status: None,
            download_url: None,
            expires_at: None,
            size_bytes: None,
            file_name: None,
            duration_secs: None,
            started_at: None,
            stopped_at: None,
        };
        let mut session_id = lenient::text(in_meeting("sessionId"));
        let (url_field, expiry_field) = match kind {
            ArtifactKind::Recording => {
                let Some(recording) = payload.get("recording").filter(|r| r.is_object()) else {
                    return Err(format!("{} without a \"recording\" object", kind.event()));
                };
                let field = |name: &str| recording.get(name);
                announcement.artifact_id = lenient::text(field("recordingId"))
                    .or_else(|| lenient::text(field("id")))
                    .unwrap_or_default();
                announcement.status = lenient::text(field("status")).map(|s| s.to_ascii_uppercase());
                announcement.download_url = lenient::text(field("downloadUrl"));
                announcement.expires_at = lenient::timestamp(field("downloadUrlExpiry"));
                announcement.size_bytes = lenient::integer(field("fileSize"));
                announcement.file_name = lenient::text(field("outputFileName"));
                announcement.duration_secs = lenient::integer(field("recordingDuration"));
                announcement.started_at = lenient::timestamp(field("startedTime"));
                announcement.stopped_at = lenient::timestamp(field("stoppedTime"));
                announcement.meeting_id = announcement.meeting_id.or_else(|| lenient::text(field("meetingId")));
                announcement.organization_id =
                    (announcement.organization_id).or_else(|| lenient::text(field("organizationId")));
                session_id = session_id.or_else(|| lenient::text(field("roomUUID")));
                if announcement.artifact_id.is_empty() {
                    return Err(format!("{} without a usable recording.recordingId", kind.event()));
                }
                (None, None)
            }
            ArtifactKind::Transcript => (Some("transcriptDownloadUrl"), Some("transcriptDownloadUrlExpiry")),
            ArtifactKind::Summary => (Some("summaryDownloadUrl"), Some("summaryDownloadUrlExpiry")),
            ArtifactKind::Chat => (Some("chatDownloadUrl"), Some("chatDownloadUrlExpiry")),
        };
        announcement.session_id = session_id.unwrap_or_default();
        if let (Some(url), Some(expiry)) = (url_field, expiry_field) {
            announcement.download_url = lenient::text(payload.get(url));
            announcement.expires_at = lenient::timestamp(payload.get(expiry));
            if announcement.download_url.is_none() {
                return Err(format!("{} without a usable {url}", kind.event()));
            }
        }
        if announcement.session_id.is_empty() {
            return Err(format!("{} without a usable meeting.sessionId", kind.event()));
        }
        announcement.check_lengths()?;
        Ok(announcement)
    }

    fn check_lengths(&self) -> Result<(), String> {
        let too_long = [
            ("the session id", Some(&self.session_id), MAX_ID_BYTES),
            ("the recording id", Some(&self.artifact_id), MAX_ID_BYTES),
            ("the meeting id", self.meeting_id.as_ref(), MAX_ID_BYTES),
            ("the organization id", self.organization_id.as_ref(), MAX_ID_BYTES),
            ("the recording status", self.status.as_ref(), MAX_ID_BYTES),
            ("the file name", self.file_name.as_ref(), MAX_TEXT_BYTES),
            ("the download URL", self.download_url.as_ref(), MAX_URL_BYTES),
        ]
        .into_iter()
        .find(|(_, value, max)| value.is_some_and(|v| v.len() > *max));
        if let Some((name, _, max)) = too_long {
            return Err(format!("{name} is longer than {max} bytes"));
        }
        let meeting_id = self.meeting_id.as_deref().unwrap_or_default();
        super::ended_session::check_path_ids(&[
            ("the session id", &self.session_id),
            ("the recording id", &self.artifact_id),
            ("the meeting id", meeting_id),
        ])
    }
}

/// The artifact an event announces, for the four artifact events.
pub fn kind_of_event(event: &str) -> Option<ArtifactKind> {
    ArtifactKind::ALL.into_iter().find(|kind| kind.event() == event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
    }

    #[test]
    fn the_documented_samples_announce_their_artifacts() {
        let recording =
            Announcement::from_payload(ArtifactKind::Recording, &sample("recording.statusUpdate")).expect("usable");
        assert_eq!(recording.session_id, "05e57591-d89e-45c9-ae44-08dc1eaad0e0");
        assert_eq!(recording.artifact_id, "8d1f3b7e-5a2c-4e9b-9f1d-2b6c7a8e9f01");
        assert_eq!(recording.status.as_deref(), Some("UPLOADED"));
        assert_eq!(recording.size_bytes, Some(2_044_680), "fileSize arrives as a string");
        assert_eq!(recording.duration_secs, Some(1790));
        assert!(recording.expires_at.is_some());
        for (kind, name) in [
            (ArtifactKind::Transcript, "meeting.transcript"),
            (ArtifactKind::Summary, "meeting.summary"),
            (ArtifactKind::Chat, "meeting.chatSynced"),
        ] {
            let announced = Announcement::from_payload(kind, &sample(name)).expect("usable");
            assert_eq!(announced.session_id, "05e57591-d89e-45c9-ae44-08dc1eaad0e0", "{name}");
            assert_eq!(
                announced.meeting_id.as_deref(),
                Some("50c8940e-1b97-402a-97d6-2708b7feca41")
            );
            assert!(
                announced.download_url.is_some() && announced.expires_at.is_some(),
                "{name}"
            );
            assert_eq!(announced.artifact_id, "");
        }
    }

    #[test]
    fn statuses_only_move_forward_and_unusable_events_say_why() {
        assert!(recording_status_rank("UPLOADED") > recording_status_rank("UPLOADING"));
        assert!(recording_status_rank("SOMETHING_NEW") < recording_status_rank("INVOKED"));
        let no_url = serde_json::json!({"event": "meeting.summary", "meeting": {"sessionId": "s"}});
        let error = Announcement::from_payload(ArtifactKind::Summary, &no_url).expect_err("no URL");
        assert!(error.contains("summaryDownloadUrl"), "{error}");
        let no_session = serde_json::json!({"event": "meeting.chatSynced", "chatDownloadUrl": "https://x/y"});
        let error = Announcement::from_payload(ArtifactKind::Chat, &no_session).expect_err("no session");
        assert!(error.contains("sessionId"), "{error}");
    }
}
