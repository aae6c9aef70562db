//! A recording as RealtimeKit describes it, in a `recording.statusUpdate` event (camelCase) or in the Recordings API
//! (snake_case), in both of its shapes: a composite recording has one file (`downloadUrl` a string), a track
//! recording one file per participant track (`downloadUrl` a list of layers, each a map of file name to URL), and
//! either may add an audio file (`audioDownloadUrl`). Each downloadable file is archived and served on its own.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::lenient;
use super::limits::{MAX_ID_BYTES, MAX_TEXT_BYTES, MAX_URL_BYTES, check_lengths, check_path_ids};
use super::names::UnknownValue;

/// The most files one recording may list (a track recording has one per participant track); more makes the
/// delivery `unprocessable`. The body limit (`server.body_limit_bytes`, 256 KiB) allows about a thousand.
pub const MAX_FILES_PER_RECORDING: usize = 10_000;

/// How RealtimeKit recorded: the whole meeting as one file, or each participant's track as its own file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordingType {
    Composite,
    Track,
}

impl RecordingType {
    pub const ALL: [Self; 2] = [Self::Composite, Self::Track];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Composite => "COMPOSITE",
            Self::Track => "TRACK",
        }
    }
}

impl TryFrom<String> for RecordingType {
    type Error = UnknownValue;

    fn try_from(text: String) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "recording type", text)
    }
}

/// Which file of an artifact something is about. A transcript, summary or chat export is one file (`Main`); a
/// recording has its composite file (`Main`), an audio file, and a file per track.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArtifactFile {
    Main,
    Audio,
    /// A track file, by its file name (unique within its recording).
    Track(String),
}

/// How the files are named in the API and in their URLs (`.../recordings/{id}/files/{name}`).
const COMPOSITE_NAME: &str = "composite";
const AUDIO_NAME: &str = "audio";

impl ArtifactFile {
    /// The value of the `file` column: `''` for the main file (as every artifact was before recordings had
    /// several), `audio`, or the track's file name.
    pub fn key(&self) -> &str {
        match self {
            Self::Main => "",
            Self::Audio => AUDIO_NAME,
            Self::Track(name) => name,
        }
    }

    /// The file's name as readers see it: `composite`, `audio`, or the track's file name.
    pub fn name(&self) -> &str {
        match self {
            Self::Main => COMPOSITE_NAME,
            Self::Audio => AUDIO_NAME,
            Self::Track(name) => name,
        }
    }

    /// The file a reader names (the inverse of [`Self::name`]).
    pub fn from_name(name: &str) -> Self {
        match name {
            COMPOSITE_NAME => Self::Main,
            AUDIO_NAME => Self::Audio,
            other => Self::Track(other.to_owned()),
        }
    }
}

/// The inverse of [`ArtifactFile::key`], for rows.
impl From<String> for ArtifactFile {
    fn from(key: String) -> Self {
        match key.as_str() {
            "" => Self::Main,
            AUDIO_NAME => Self::Audio,
            _ => Self::Track(key),
        }
    }
}

/// A downloadable file an event or the API names.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnouncedFile {
    pub file: ArtifactFile,
    /// The layer a track file is listed in (`default` in RealtimeKit's examples).
    pub layer: Option<String>,
    /// Pre-signed: never shown to readers.
    pub url: String,
    /// The size RealtimeKit gives, when it gives one (the composite file's `fileSize`).
    pub size_bytes: Option<i64>,
}

/// What one description of a recording says, whichever spelling it uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordingFields {
    pub recording_id: Option<String>,
    /// RealtimeKit's status, upper-cased (`INVOKED`, `RECORDING`, `UPLOADING`, `UPLOADED`, `ERRORED`, or another).
    pub status: Option<String>,
    /// Said by `type`, else seen from the shape (layers mean a track recording).
    pub recording_type: Option<RecordingType>,
    pub files: Vec<AnnouncedFile>,
    /// One expiry for every file of the recording.
    pub expires_at: Option<DateTime<Utc>>,
    pub output_file_name: Option<String>,
    pub duration_secs: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub meeting_id: Option<String>,
    pub organization_id: Option<String>,
    /// `roomUUID` in events, `session_id` in the API; absent in Dyte-era events.
    pub session_id: Option<String>,
}

/// The field under its camelCase or its snake_case name.
fn field<'a>(object: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    object.get(camel).or_else(|| object.get(snake)).filter(|v| !v.is_null())
}

impl RecordingFields {
    /// Reads a recording object (an event's `recording`, or the API's `data`). Refuses what cannot be stored: an
    /// over-long value, a file name that cannot be one, more than [`MAX_FILES_PER_RECORDING`] files.
    pub fn read(recording: &Value) -> Result<Self, String> {
        let text = |camel: &str, snake: &str| lenient::text(field(recording, camel, snake));
        let time = |camel: &str, snake: &str| lenient::timestamp(field(recording, camel, snake));
        let declared_type = text("type", "type").map(|t| t.to_ascii_uppercase());
        let mut fields = Self {
            recording_id: text("recordingId", "recording_id").or_else(|| text("id", "id")),
            status: text("status", "status").map(|s| s.to_ascii_uppercase()),
            recording_type: declared_type.and_then(|t| RecordingType::try_from(t).ok()),
            files: Vec::new(),
            expires_at: time("downloadUrlExpiry", "download_url_expiry"),
            output_file_name: text("outputFileName", "output_file_name"),
            duration_secs: lenient::integer(field(recording, "recordingDuration", "recording_duration")),
            started_at: time("startedTime", "started_time"),
            stopped_at: time("stoppedTime", "stopped_time"),
            meeting_id: text("meetingId", "meeting_id"),
            organization_id: text("organizationId", "organization_id"),
            session_id: text("roomUUID", "session_id").or_else(|| text("sessionId", "room_uuid")),
        };
        let size = lenient::integer(field(recording, "fileSize", "file_size"));
        match field(recording, "downloadUrl", "download_url") {
            Some(Value::Array(layers)) => {
                fields.recording_type.get_or_insert(RecordingType::Track);
                fields.files = track_files(layers)?;
            }
            Some(url) => {
                if let Some(url) = lenient::text(Some(url)) {
                    fields.files.push(AnnouncedFile {
                        file: ArtifactFile::Main,
                        layer: None,
                        url,
                        size_bytes: size,
                    });
                }
            }
            None => {}
        }
        if let Some(url) = text("audioDownloadUrl", "audio_download_url") {
            fields.files.push(AnnouncedFile {
                file: ArtifactFile::Audio,
                layer: None,
                url,
                size_bytes: None,
            });
        }
        fields.recording_type.get_or_insert(RecordingType::Composite);
        fields.check()?;
        Ok(fields)
    }

    fn check(&self) -> Result<(), String> {
        if self.files.len() > MAX_FILES_PER_RECORDING {
            return Err(format!(
                "the recording lists {} files, more than {MAX_FILES_PER_RECORDING}",
                self.files.len()
            ));
        }
        let values = [
            ("the recording id", self.recording_id.as_deref(), MAX_ID_BYTES),
            ("the recording status", self.status.as_deref(), MAX_ID_BYTES),
            ("the meeting id", self.meeting_id.as_deref(), MAX_ID_BYTES),
            ("the organization id", self.organization_id.as_deref(), MAX_ID_BYTES),
            ("the session id", self.session_id.as_deref(), MAX_ID_BYTES),
            ("the file name", self.output_file_name.as_deref(), MAX_TEXT_BYTES),
        ];
        check_lengths(&values)?;
        for file in &self.files {
            check_lengths(&[
                ("a download URL", Some(&file.url), MAX_URL_BYTES),
                ("a layer name", file.layer.as_deref(), MAX_ID_BYTES),
            ])?;
        }
        check_path_ids(&[("the recording id", self.recording_id.as_deref().unwrap_or_default())])
    }
}

/// The files of a track recording: `[{"layer_name": ..., "download_urls": {"<file name>": {"download_url": ...}}}]`,
/// in either spelling; a file's entry may also be the URL itself. A name listed in two layers is kept under
/// `{layer}~{name}` the second time, so that neither file is lost.
fn track_files(layers: &[Value]) -> Result<Vec<AnnouncedFile>, String> {
    let mut files: Vec<AnnouncedFile> = Vec::new();
    for layer in layers {
        let layer_name = lenient::text(field(layer, "layerName", "layer_name"));
        let Some(Value::Object(urls)) = field(layer, "downloadUrls", "download_urls") else {
            continue;
        };
        for (name, entry) in urls {
            let Some(url) = track_url(entry) else { continue };
            let name = name.replace('\0', "");
            check_track_name(&name)?;
            let taken = files.iter().any(|f| f.file.key() == name);
            let key = match (&layer_name, taken) {
                (Some(layer), true) => format!("{layer}~{name}"),
                _ => name,
            };
            if files.iter().any(|f| f.file.key() == key) {
                return Err(format!("the track file {key:?} is listed twice"));
            }
            files.push(AnnouncedFile {
                file: ArtifactFile::Track(key),
                layer: layer_name.clone(),
                url,
                size_bytes: entry.as_object().and_then(size_in),
            });
        }
    }
    Ok(files)
}

fn track_url(entry: &Value) -> Option<String> {
    match entry {
        Value::Object(_) => lenient::text(field(entry, "downloadUrl", "download_url")),
        other => lenient::text(Some(other)),
    }
}

fn size_in(entry: &Map<String, Value>) -> Option<i64> {
    lenient::integer(entry.get("fileSize").or_else(|| entry.get("file_size")))
}

/// A track file's name becomes a path segment of our URLs and (escaped) of the archive's keys: it must be one.
fn check_track_name(name: &str) -> Result<(), String> {
    let reserved = [COMPOSITE_NAME, AUDIO_NAME, "", ".", ".."].contains(&name);
    let unusable = name.len() > MAX_ID_BYTES || name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if reserved || unusable {
        return Err(format!("the track file name {name:?} cannot be a file name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_composite_recording_is_one_file_and_an_audio_output_a_second() {
        let recording = json!({
            "id": "r1", "status": "uploaded", "downloadUrl": "https://x/r1.mp4", "fileSize": "2044680",
            "audioDownloadUrl": "https://x/r1.m4a", "downloadUrlExpiry": "2026-06-10T10:31:10Z"
        });
        let fields = RecordingFields::read(&recording).expect("usable");
        assert_eq!(fields.recording_type, Some(RecordingType::Composite));
        assert_eq!(fields.status.as_deref(), Some("UPLOADED"));
        let files: Vec<_> = fields.files.iter().map(|f| (f.file.name(), f.size_bytes)).collect();
        assert_eq!(files, [("composite", Some(2_044_680)), ("audio", None)]);
    }

    #[test]
    fn layers_in_either_spelling_give_one_file_per_track() {
        let camel = json!({"recordingId": "r2", "downloadUrl": [
            {"layerName": "default", "downloadUrls": {"a.webm": {"downloadUrl": "https://x/a"}, "b.webm": "https://x/b"}}
        ]});
        let snake = json!({"id": "r2", "type": "track", "download_url": [
            {"layer_name": "default", "download_urls": {"a.webm": {"download_url": "https://x/a"},
                                                        "b.webm": {"download_url": "https://x/b"}}}
        ]});
        for recording in [camel, snake] {
            let fields = RecordingFields::read(&recording).expect("usable");
            assert_eq!(fields.recording_type, Some(RecordingType::Track));
            let names: Vec<_> = fields.files.iter().map(|f| f.file.name()).collect();
            assert_eq!(names, ["a.webm", "b.webm"]);
            assert!(fields.files.iter().all(|f| f.layer.as_deref() == Some("default")));
        }
    }

    #[test]
    fn a_name_in_two_layers_keeps_both_files_and_unusable_names_are_refused() {
        let two_layers = json!({"id": "r", "downloadUrl": [
            {"layer_name": "one", "download_urls": {"a.webm": {"download_url": "https://x/1"}}},
            {"layer_name": "two", "download_urls": {"a.webm": {"download_url": "https://x/2"}}}
        ]});
        let fields = RecordingFields::read(&two_layers).expect("usable");
        let names: Vec<_> = fields.files.iter().map(|f| f.file.name()).collect();
        assert_eq!(names, ["a.webm", "two~a.webm"]);
        for name in ["audio", "composite", "..", "a/b.webm"] {
            let recording =
                json!({"id": "r", "downloadUrl": [{"download_urls": {name: {"download_url": "https://x"}}}]});
            let error = RecordingFields::read(&recording).expect_err(name);
            assert!(error.contains("cannot be a file name"), "{error}");
        }
    }

    #[test]
    fn file_names_and_keys_round_trip() {
        for file in [
            ArtifactFile::Main,
            ArtifactFile::Audio,
            ArtifactFile::Track("t.webm".into()),
        ] {
            assert_eq!(ArtifactFile::from(file.key().to_owned()), file);
            assert_eq!(ArtifactFile::from_name(file.name()), file);
        }
    }
}
