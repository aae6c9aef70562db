//! The operator's archive store (`[archive] url`): a local folder, S3 or any S3-compatible store (R2, MinIO), Google
//! Cloud Storage or Azure Blob Storage, through the `object_store` crate. Objects are written streaming (multipart),
//! so memory stays flat whatever their size, and named so that a person can browse them:
//! `{organization}/{yyyy}/{mm}/{dd}/{session_id}/recording-{id}.mp4` (a recording's other files in
//! `recording-{id}/`), `transcript.csv`, `summary.md`, `chat.csv`, and `session.json`, the manifest written last.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};
use futures_util::{Stream, StreamExt};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};

use crate::domain::artifact::ArtifactKind;
use crate::domain::recording::ArtifactFile;

/// Parts of a multipart upload: S3 wants at least 5 MiB per part but the last.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts uploaded at once: with one being filled, memory holds at most this many plus one parts per upload.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Clone)]
pub struct ArchiveStore {
    store: Arc<dyn ObjectStore>,
    /// Local folders keep no content types (the database does).
    keeps_attributes: bool,
    /// The URL without credentials, for messages.
    shown: String,
    /// What the last write to the store said (shared by every clone).
    writability: Arc<std::sync::RwLock<Writability>>,
}

/// Whether the store takes writes, as the last write to it (the check at start and every 5 minutes, or a copy)
/// found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writability {
    /// Nothing written yet.
    Unchecked,
    Writable,
    /// The last write failed, with the store's error.
    Unwritable {
        error: String,
        since: DateTime<Utc>,
    },
}

/// The name of the object the writability check writes (and writes over) at the store's root.
const WRITE_CHECK_OBJECT: &str = ".rtk-sessions-write-check";

/// What a streamed copy wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
}

/// Why a streamed copy failed: the source, the limit, or the store.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("reading the source failed after {read} bytes: {cause}")]
    Source { read: u64, cause: anyhow::Error },
    #[error("the source sent more than the {limit} bytes expected")]
    TooLarge { limit: u64 },
    #[error("writing to the archive store failed: {0}")]
    Store(#[from] object_store::Error),
}

impl ArchiveStore {
    /// Opens `url` (nothing is touched until an object is written): `file:///absolute/folder` (created as needed), `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (credentials from the usual environment variables, e.g. `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for R2 or MinIO).
    pub fn open(url: &url::Url) -> Result<Self, String> {
        let shown = shown(url);
        let writability = Arc::new(std::sync::RwLock::new(Writability::Unchecked));
        let prefix = Path::from(url.path().trim_matches('/'));
        let (store, keeps_attributes): (Arc<dyn ObjectStore>, bool) = match url.scheme() {
            "file" => {
                let folder = url
                    .to_file_path()
                    .map_err(|()| format!("{shown} is not an absolute folder (file:///path/to/folder)"))?;
                // The folder and the ones below it are created as objects are written.
                let root = object_store::local::LocalFileSystem::new().with_automatic_cleanup(true);
                let folder = Path::from(folder.to_string_lossy().as_ref());
                return Ok(Self {
                    store: Arc::new(PrefixStore::new(root, folder)),
                    keeps_attributes: false,
                    shown,
                    writability,
                });
            }
            "s3" | "s3a" => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .build();
                (Arc::new(s3.map_err(|e| format!("{shown}: {e}"))?), true)
            }
            "gs" => {
                let gcs = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url.as_str())
                    .build();
                (Arc::new(gcs.map_err(|e| format!("{shown}: {e}"))?), true)
            }
            "az" | "azure" | "abfs" | "abfss" => {
                let azure = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .build();
                (Arc::new(azure.map_err(|e| format!("{shown}: {e}"))?), true)
            }
            other => return Err(format!("{other}:// is not a store (file://, s3://, gs:// or az://)")),
        };
        let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Self {
            store,
            keeps_attributes,
            shown,
            writability,
        })
    }

    /// Whether the store takes writes, as last seen.
    pub fn writability(&self) -> Writability {
        self.writability.read().map_or(Writability::Unchecked, |w| w.clone())
    }

    /// Writes a small object to see whether the store takes writes now.
    pub async fn check_writable(&self) -> Result<(), object_store::Error> {
        self.put(WRITE_CHECK_OBJECT, "text/plain", b"ok\n".to_vec()).await
    }

    /// Remembers what a write to the store said. An error is kept in one line: the store's own message, whose
    /// causes `object_store` already writes into it.
    fn note_write<T>(&self, result: &Result<T, object_store::Error>) {
        self.note_write_error(result.as_ref().err());
    }

    fn note_write_error(&self, error: Option<&object_store::Error>) {
        let now = match error {
            None => Writability::Writable,
            Some(error) => Writability::Unwritable {
                error: error.to_string(),
                since: match self.writability() {
                    Writability::Unwritable { since, .. } => since,
                    _ => Utc::now(),
                },
            },
        };
        crate::observability::archive_writable(now == Writability::Writable);
        if let Ok(mut writability) = self.writability.write() {
            *writability = now;
        }
    }

    /// The store's URL without credentials.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Streams `source` into `key`, hashing as it goes; more than `limit` bytes aborts the upload. Nothing is left
    /// behind by a failed copy (the multipart upload is aborted), and the object appears whole or not at all.
    pub async fn copy<S, E>(
        &self,
        key: &str,
        content_type: &str,
        mut source: S,
        limit: u64,
    ) -> Result<Written, CopyError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<anyhow::Error>,
    {
        let upload = self
            .store
            .put_multipart_opts(&Path::from(key), self.options(content_type))
            .await;
        self.note_write(&upload);
        let upload = upload?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hasher = Sha256::new();
        let mut read: u64 = 0;
        let failure = loop {
            let chunk = match source.next().await {
                None => break None,
                Some(Err(cause)) => {
                    break Some(CopyError::Source {
                        read,
                        cause: cause.into(),
                    });
                }
                Some(Ok(chunk)) => chunk,
            };
            read += chunk.len() as u64;
            if read > limit {
                break Some(CopyError::TooLarge { limit });
            }
            hasher.update(&chunk);
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Some(error.into());
            }
            writer.put(chunk);
        };
        if let Some(failure) = failure {
            if let CopyError::Store(error) = &failure {
                self.note_write_error(Some(error));
            }
            let _ = writer.abort().await;
            return Err(failure);
        }
        let finished = writer.finish().await;
        self.note_write(&finished);
        finished?;
        Ok(Written {
            bytes: read,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Writes a small object whole (the manifest).
    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), object_store::Error> {
        let options = object_store::PutOptions {
            attributes: self.attributes(content_type),
            ..Default::default()
        };
        let written = self
            .store
            .put_opts(&Path::from(key), PutPayload::from(bytes), options)
            .await
            .map(drop);
        self.note_write(&written);
        written
    }

    /// The object's size and its bytes, as a stream.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<(u64, impl Stream<Item = Result<Bytes, object_store::Error>> + use<>), object_store::Error> {
        let object = self.store.get(&Path::from(key)).await?;
        Ok((object.meta.size, object.into_stream()))
    }

    fn options(&self, content_type: &str) -> PutMultipartOptions {
        PutMultipartOptions {
            attributes: self.attributes(content_type),
            ..Default::default()
        }
    }

    fn attributes(&self, content_type: &str) -> Attributes {
        if self.keeps_attributes {
            Attributes::from_iter([(Attribute::ContentType, content_type.to_owned())])
        } else {
            Attributes::new()
        }
    }
}

/// Where a session's objects go: `{organization}/{yyyy}/{mm}/{dd}/{session_id}`, dated by the session's end.
pub fn session_folder(organization_id: Option<&str>, ended_at: DateTime<Utc>, session_id: &str) -> String {
    format!(
        "{}/{:04}/{:02}/{:02}/{}",
        segment(organization_id.unwrap_or("no-organization")),
        ended_at.year(),
        ended_at.month(),
        ended_at.day(),
        segment(session_id)
    )
}

/// An artifact file's object name within its session's folder: `recording-{id}.{ext}` for a recording's composite
/// file, `recording-{id}/audio.{ext}` and `recording-{id}/tracks/{file name}` for its other files,
/// `transcript.{ext}`, `summary.md`, `chat.{ext}`. One to one with the file: a track's name is kept when its
/// extension is one of [`CONTENT_TYPES`], and gets `~.{extension}` appended otherwise (no escaped or plain segment
/// ends so).
pub fn object_name(kind: ArtifactKind, artifact_id: &str, file: &ArtifactFile, extension: &str) -> String {
    match (kind, file) {
        (ArtifactKind::Recording, ArtifactFile::Main) => format!("recording-{}.{extension}", segment(artifact_id)),
        (ArtifactKind::Recording, ArtifactFile::Audio) => {
            format!("recording-{}/audio.{extension}", segment(artifact_id))
        }
        (ArtifactKind::Recording, ArtifactFile::Track(name)) => {
            let kept = extension_of(name).is_some_and(|own| own == extension);
            let name = if kept {
                segment(name)
            } else {
                format!("{}~.{extension}", segment(name))
            };
            format!("recording-{}/tracks/{name}", segment(artifact_id))
        }
        (ArtifactKind::Summary, _) => "summary.md".to_owned(),
        (other, _) => format!("{}.{extension}", other.as_str()),
    }
}

pub const MANIFEST_NAME: &str = "session.json";

/// The extensions an archived object may have, with the content type it is served with: a file name from an event
/// chooses among these and nothing else (an `.html`, `.svg` or `.exe` becomes the kind's default).
const CONTENT_TYPES: [(&str, &str); 10] = [
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("m4a", "audio/mp4"),
    ("mp3", "audio/mpeg"),
    ("csv", "text/csv; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
    ("srt", "application/x-subrip"),
    ("json", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"),
];

/// The extension of a file name or a URL's last path segment, when it is one of [`CONTENT_TYPES`].
pub fn extension_of(name: &str) -> Option<String> {
    let last = name.split(['?', '#']).next()?.rsplit('/').next()?;
    let (_, extension) = last.rsplit_once('.')?;
    let extension = extension.to_ascii_lowercase();
    CONTENT_TYPES
        .iter()
        .any(|(known, _)| *known == extension)
        .then_some(extension)
}

/// The content type an archived object is served with.
pub fn content_type(extension: &str) -> &'static str {
    (CONTENT_TYPES.iter())
        .find(|(known, _)| *known == extension)
        .map_or("application/octet-stream", |(_, content_type)| content_type)
}

/// A path segment a person can read and every store accepts, one to one with the id: an id of letters, digits,
/// `-`, `_` and `.` (at most 128, not starting or ending with a dot) is itself; any other has the rest replaced by
/// `_` and `~` plus 16 hex digits of its SHA-256 appended. `~` never appears in the first kind, so `coll/1` and
/// `coll_1` never share a key.
fn segment(text: &str) -> String {
    let readable = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let as_is = !text.is_empty()
        && text.len() <= 128
        && text.chars().all(readable)
        && !text.starts_with('.')
        && !text.ends_with('.');
    if as_is {
        return text.to_owned();
    }
    let cleaned: String = (text.chars().take(96))
        .map(|c| if readable(c) { c } else { '_' })
        .collect();
    let digest = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
    format!("{}~{digest}", cleaned.trim_matches('.'))
}

/// `scheme://host/path`, without user, password or query.
fn shown(url: &url::Url) -> String {
    format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or(""), url.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_are_browsable_and_safe() {
        let ended = Utc.with_ymd_and_hms(2026, 6, 3, 10, 30, 0).single().expect("valid");
        assert_eq!(session_folder(Some("org-1"), ended, "s-1"), "org-1/2026/06/03/s-1");
        let dotted = session_folder(None, ended, "../x");
        assert!(dotted.starts_with("no-organization/2026/06/03/_x~"), "{dotted}");
        let main = &ArtifactFile::Main;
        let slashed = object_name(ArtifactKind::Recording, "r/1", main, "mp4");
        assert!(
            slashed.starts_with("recording-r_1~") && slashed.ends_with(".mp4"),
            "{slashed}"
        );
        assert_ne!(
            object_name(ArtifactKind::Recording, "r_1", main, "mp4"),
            slashed,
            "one key per id"
        );
        assert_eq!(
            object_name(ArtifactKind::Recording, "r_1", main, "mp4"),
            "recording-r_1.mp4"
        );
        assert_eq!(
            extension_of("evil.html"),
            None,
            "only the content-type map's extensions"
        );
        assert_eq!(object_name(ArtifactKind::Summary, "", main, "txt"), "summary.md");
        assert_eq!(object_name(ArtifactKind::Chat, "", main, "csv"), "chat.csv");
        let audio = object_name(ArtifactKind::Recording, "r_1", &ArtifactFile::Audio, "m4a");
        assert_eq!(audio, "recording-r_1/audio.m4a");
        let track = |name: &str, extension| {
            object_name(
                ArtifactKind::Recording,
                "r_1",
                &ArtifactFile::Track(name.into()),
                extension,
            )
        };
        assert_eq!(track("a_b.webm", "webm"), "recording-r_1/tracks/a_b.webm");
        assert_eq!(track("a_b.html", "webm"), "recording-r_1/tracks/a_b.html~.webm");
        assert_ne!(
            track("a_b.html", "webm"),
            track("a_b.html~.webm", "webm"),
            "one key per file"
        );
        assert_eq!(
            extension_of("https://x/a/05e57591.CSV?X-Amz-Expires=1").as_deref(),
            Some("csv")
        );
        assert_eq!(extension_of("https://x/a/no-extension?x=y.z"), None);
        assert_eq!(extension_of("8d1f3b7e.mp4").as_deref(), Some("mp4"));
    }
}
