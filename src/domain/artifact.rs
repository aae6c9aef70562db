//! What a session leaves behind at RealtimeKit (recordings, a transcript, a summary, a chat export), as the later
//! events announce them. RealtimeKit deletes these files after 7 days; the service archives a copy of each.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::lenient;
use super::limits::{MAX_ID_BYTES, MAX_URL_BYTES, check_lengths, check_path_ids, path_segment};
use super::names::UnknownValue;
use super::recording::{AnnouncedFile, ArtifactFile, RecordingFields, RecordingType};

pub const RECORDING_STATUS_UPDATE: &str = "recording.statusUpdate";
pub const MEETING_TRANSCRIPT: &str = "meeting.transcript";
pub const MEETING_SUMMARY: &str = "meeting.summary";
pub const MEETING_CHAT_SYNCED: &str = "meeting.chatSynced";

/// An artifact not archived yet whose source RealtimeKit deletes within this many hours is "at risk": what the
/// console's overview counts, `artifacts list --at-risk` lists by default, and the `RtkArtifactAtRisk` alert says.
pub const AT_RISK_HOURS: u32 = 48;

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

    /// Not archived yet and not lost: a copy can still be made (the states the `artifacts_unarchived_idx` holds).
    pub fn awaits_archive(self) -> bool {
        matches!(self, Self::Announced | Self::Archiving | Self::Failed)
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

/// What one event (or one API answer) says of one artifact: a transcript, summary or chat export and its one file,
/// or a recording and the files it lists (none until it is uploaded).
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// Empty only for a recording whose event names no session (a Dyte-era payload): its session is asked of the
    /// Recordings API before anything is recorded of it.
    pub session_id: String,
    pub meeting_id: Option<String>,
    pub organization_id: Option<String>,
    pub kind: ArtifactKind,
    /// The recording id; empty for the other kinds (a session has one of each).
    pub artifact_id: String,
    /// RealtimeKit's recording status.
    pub status: Option<String>,
    /// Recordings only.
    pub recording_type: Option<RecordingType>,
    /// The downloadable files named, each with its pre-signed URL.
    pub files: Vec<AnnouncedFile>,
    /// When the download URLs (and, after 7 days, the files) expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// The composite file's name at RealtimeKit, which gives its extension.
    pub file_name: Option<String>,
    pub duration_secs: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

impl Announcement {
    pub fn status_rank(&self) -> i16 {
        self.status.as_deref().map_or(0, recording_status_rank)
    }

    /// True for a recording whose session is not known yet (see [`Self::session_id`]).
    pub fn needs_session(&self) -> bool {
        self.session_id.is_empty()
    }

    /// A recording as an event or the API describes it, for a session (or `""` when none is known yet); `None`
    /// without a recording id.
    pub fn of_recording(
        fields: RecordingFields,
        session_id: String,
        meeting_id: Option<String>,
        organization_id: Option<String>,
    ) -> Option<Self> {
        Some(Self {
            session_id,
            meeting_id: meeting_id.or(fields.meeting_id),
            organization_id: organization_id.or(fields.organization_id),
            kind: ArtifactKind::Recording,
            artifact_id: fields.recording_id?,
            status: fields.status,
            recording_type: fields.recording_type,
            files: fields.files,
            expires_at: fields.expires_at,
            file_name: fields.output_file_name,
            duration_secs: fields.duration_secs,
            started_at: fields.started_at,
            stopped_at: fields.stopped_at,
        })
    }

    /// A transcript, summary or chat export, whose one file is at `url`.
    pub fn of_file(
        kind: ArtifactKind,
        session_id: String,
        meeting_id: Option<String>,
        organization_id: Option<String>,
        url: String,
        expires_at: Option<DateTime<Utc>>,
        size_bytes: Option<i64>,
    ) -> Self {
        Self {
            session_id,
            meeting_id,
            organization_id,
            kind,
            artifact_id: String::new(),
            status: None,
            recording_type: None,
            files: vec![AnnouncedFile {
                file: ArtifactFile::Main,
                layer: None,
                url,
                size_bytes,
            }],
            expires_at,
            file_name: None,
            duration_secs: None,
            started_at: None,
            stopped_at: None,
        }
    }

    /// Reads a `recording.statusUpdate`, `meeting.transcript`, `meeting.summary` or `meeting.chatSynced` payload.
    pub fn from_payload(kind: ArtifactKind, payload: &Value) -> Result<Self, String> {
        let meeting = payload.get("meeting").filter(|m| m.is_object());
        let in_meeting = |name: &str| meeting.and_then(|m| m.get(name)).or_else(|| payload.get(name));
        let organization = lenient::text(in_meeting("organizedBy").and_then(|o| o.get("id")));
        let meeting_id = lenient::text(in_meeting("id")).or_else(|| lenient::text(payload.get("meetingId")));
        let session_id = lenient::text(in_meeting("sessionId"));
        let announcement = match kind {
            ArtifactKind::Recording => {
                let Some(recording) = payload.get("recording").filter(|r| r.is_object()) else {
                    return Err(format!("{} without a \"recording\" object", kind.event()));
                };
                let fields = RecordingFields::read(recording)?;
                // A Dyte-era event names no session: it is attributed through the API (see `needs_session`).
                let session_id = session_id.or_else(|| fields.session_id.clone()).unwrap_or_default();
                Self::of_recording(fields, session_id, meeting_id, organization)
                    .ok_or_else(|| format!("{} without a usable recording.recordingId", kind.event()))?
            }
            other => {
                let (url, expiry) = match other {
                    ArtifactKind::Transcript => ("transcriptDownloadUrl", "transcriptDownloadUrlExpiry"),
                    ArtifactKind::Summary => ("summaryDownloadUrl", "summaryDownloadUrlExpiry"),
                    _ => ("chatDownloadUrl", "chatDownloadUrlExpiry"),
                };
                let Some(download_url) = lenient::text(payload.get(url)) else {
                    return Err(format!("{} without a usable {url}", kind.event()));
                };
                let Some(session_id) = session_id else {
                    return Err(format!("{} without a usable meeting.sessionId", kind.event()));
                };
                let expires_at = lenient::timestamp(payload.get(expiry));
                Self::of_file(
                    other,
                    session_id,
                    meeting_id,
                    organization,
                    download_url,
                    expires_at,
                    None,
                )
            }
        };
        announcement.check_lengths()?;
        Ok(announcement)
    }

    fn check_lengths(&self) -> Result<(), String> {
        check_lengths(&[
            ("the session id", Some(&self.session_id), MAX_ID_BYTES),
            ("the recording id", Some(&self.artifact_id), MAX_ID_BYTES),
            ("the meeting id", self.meeting_id.as_deref(), MAX_ID_BYTES),
            ("the organization id", self.organization_id.as_deref(), MAX_ID_BYTES),
            (
                "the download URL",
                self.files.first().map(|f| f.url.as_str()),
                MAX_URL_BYTES,
            ),
        ])?;
        let meeting_id = self.meeting_id.as_deref().unwrap_or_default();
        check_path_ids(&[
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

/// Where an archived file is served, below `/sessions/{id}/artifacts/`: `transcript` (and `summary`, `chat`),
/// `recordings/{id}` for a recording's composite file, `recordings/{id}/files/{name}` for another of its files.
/// Segments are escaped. It also names the file in its `artifact.archived` occurrence.
pub fn download_path(kind: ArtifactKind, recording_id: Option<&str>, file: &ArtifactFile) -> String {
    match (kind, recording_id) {
        (ArtifactKind::Recording, Some(recording_id)) => match file {
            ArtifactFile::Main => format!("recordings/{}", path_segment(recording_id)),
            other => format!(
                "recordings/{}/files/{}",
                path_segment(recording_id),
                path_segment(other.name())
            ),
        },
        (kind, _) => kind.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::fixture as sample;

    #[test]
    fn the_documented_samples_announce_their_artifacts() {
        let recording =
            Announcement::from_payload(ArtifactKind::Recording, &sample("recording.statusUpdate")).expect("usable");
        assert_eq!(recording.session_id, "05e57591-d89e-45c9-ae44-08dc1eaad0e0");
        assert_eq!(recording.artifact_id, "8d1f3b7e-5a2c-4e9b-9f1d-2b6c7a8e9f01");
        assert_eq!(recording.status.as_deref(), Some("UPLOADED"));
        assert_eq!(recording.files.len(), 1);
        assert_eq!(
            recording.files[0].size_bytes,
            Some(2_044_680),
            "fileSize arrives as a string"
        );
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
            assert!(announced.files.len() == 1 && announced.expires_at.is_some(), "{name}");
            assert_eq!(announced.artifact_id, "");
        }
    }

    #[test]
    fn track_legacy_and_audio_recordings_are_read() {
        let track = Announcement::from_payload(ArtifactKind::Recording, &sample("recording.statusUpdate.track"))
            .expect("usable");
        assert_eq!(track.recording_type, Some(RecordingType::Track));
        assert_eq!(track.files.len(), 2);
        assert!(track.files.iter().all(|f| f.file.name().ends_with(".webm")));
        let legacy = Announcement::from_payload(ArtifactKind::Recording, &sample("recording.statusUpdate.legacy"))
            .expect("usable");
        assert!(legacy.needs_session(), "a Dyte-era event names no session");
        assert_eq!(
            legacy.files[0].size_bytes,
            Some(2_044_680),
            "fileSize arrives as a number"
        );
        assert_eq!(
            legacy.started_at.map(|t| t.to_rfc3339()),
            Some("2026-06-03T10:00:05.903816+00:00".to_owned())
        );
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
