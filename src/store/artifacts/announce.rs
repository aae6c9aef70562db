//! Writing announcements: one call of `apply_announcements` for any number of them, with their sessions' locks, which
//! writes each one's files, a recording's other files, the row that stood for files not known yet, and the session's
//! flag and archive follow-up.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, PgPool, Postgres};

use crate::domain::artifact::{Announcement, ArtifactKind, ArtifactState, RECORDING_ERRORED, RECORDING_UPLOADED};
use crate::domain::job::FollowupKind;
use crate::domain::recording::{ArtifactFile, RecordingType};
use crate::store::followup_jobs;
use crate::store::job_specs::JobSpecs;

/// The columns of `apply_announcements` (migration `apply_announcements`), which applies announcements one after the
/// other with their sessions' locks: each announcement's fields as arrays, its files flat (each announcement's the
/// slice `first_file ..= last_file`), the sessions locked shared besides, and the archive follow-up.
///
/// An announcement's files are each added or updated; the recording's status reaches its other files; a later status
/// replaces an earlier one, never the reverse; an archived or lost file is not changed; a repeat that says nothing new
/// changes nothing. When it changed something and the session is recorded, the session's flags are set and its
/// archive follow-up (in `jobs`, when configured) is queued to run (again). The call returns, for each announcement,
/// its `ord` and whether it changed anything.
#[derive(Default)]
pub struct AnnouncementColumns<'a> {
    ords: Vec<i32>,
    session_ids: Vec<&'a str>,
    kinds: Vec<&'static str>,
    artifact_ids: Vec<&'a str>,
    recording_types: Vec<Option<&'static str>>,
    meeting_ids: Vec<Option<&'a str>>,
    organization_ids: Vec<Option<&'a str>>,
    states: Vec<&'static str>,
    statuses: Vec<Option<&'a str>>,
    status_ranks: Vec<i16>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    file_names: Vec<Option<&'a str>>,
    durations: Vec<Option<i64>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    stopped_at: Vec<Option<DateTime<Utc>>>,
    errors: Vec<Option<&'static str>>,
    is_recording: Vec<bool>,
    remove_placeholder: Vec<bool>,
    archivable: Vec<bool>,
    first_file: Vec<i32>,
    last_file: Vec<i32>,
    files: Vec<&'a str>,
    layers: Vec<Option<&'a str>>,
    urls: Vec<Option<&'a str>>,
    sizes: Vec<Option<i64>>,
    recorded: Vec<&'a str>,
    archive_followup: Option<&'a str>,
    max_attempts: i32,
}

/// How many columns [`AnnouncementColumns::bind`] binds.
const COLUMN_COUNT: usize = 28;

/// Why an announcement of an ERRORED recording leaves nothing to archive.
const ERRORED: &str = "RealtimeKit reported the recording ERRORED: there is no file to archive";

impl<'a> AnnouncementColumns<'a> {
    /// `announcements` with each one's `ord` (what the call returns it with), and `recorded`: the sessions whose rows
    /// the caller's statement inserts after the call (their locks taken shared, in the same order).
    pub fn of(announcements: &[(i32, &'a Announcement)], recorded: Vec<&'a str>, jobs: &'a JobSpecs) -> Self {
        let mut columns = Self {
            recorded,
            archive_followup: jobs.name_of(FollowupKind::Archive),
            max_attempts: jobs.max_attempts,
            ..Self::default()
        };
        for &(ord, announcement) in announcements {
            columns.push(ord, announcement);
        }
        columns
    }

    fn push(&mut self, ord: i32, announcement: &'a Announcement) {
        let errored = announcement.status.as_deref() == Some(RECORDING_ERRORED);
        let is_recording = announcement.kind == ArtifactKind::Recording;
        // Files are numbered from 1, as Postgres numbers an array's elements.
        self.first_file.push(self.files.len() as i32 + 1);
        if announcement.files.is_empty() {
            // A recording that names no file yet: its one row without a source.
            self.files.push(ArtifactFile::Main.key());
            self.layers.push(None);
            self.urls.push(None);
            self.sizes.push(None);
        }
        for file in &announcement.files {
            self.files.push(file.file.key());
            self.layers.push(file.layer.as_deref());
            self.urls.push(Some(file.url.as_str()));
            self.sizes.push(file.size_bytes);
        }
        self.last_file.push(self.files.len() as i32);
        let named_main = (announcement.files.iter()).any(|f| f.file.key() == ArtifactFile::Main.key());
        self.ords.push(ord);
        self.session_ids.push(&announcement.session_id);
        self.kinds.push(announcement.kind.as_str());
        self.artifact_ids.push(&announcement.artifact_id);
        self.recording_types
            .push(announcement.recording_type.map(RecordingType::as_str));
        self.meeting_ids.push(announcement.meeting_id.as_deref());
        self.organization_ids.push(announcement.organization_id.as_deref());
        self.states.push(
            if errored {
                ArtifactState::Lost
            } else {
                ArtifactState::Announced
            }
            .as_str(),
        );
        self.statuses.push(announcement.status.as_deref());
        self.status_ranks.push(announcement.status_rank());
        self.expires_at.push(announcement.expires_at);
        self.file_names.push(announcement.file_name.as_deref());
        self.durations.push(announcement.duration_secs);
        self.started_at.push(announcement.started_at);
        self.stopped_at.push(announcement.stopped_at);
        self.errors.push(errored.then_some(ERRORED));
        self.is_recording.push(is_recording);
        self.remove_placeholder
            .push(is_recording && !announcement.files.is_empty() && !named_main);
        self.archivable.push(
            !errored
                && !announcement.files.is_empty()
                && (!is_recording || announcement.status.as_deref() == Some(RECORDING_UPLOADED)),
        );
    }

    /// The call, its parameters numbered from `$first`: `apply_announcements($first, ...)`.
    pub fn call(first: usize) -> String {
        let parameters: Vec<String> = (first..first + COLUMN_COUNT).map(|n| format!("${n}")).collect();
        format!("apply_announcements({})", parameters.join(", "))
    }

    /// Binds the columns, in the order of [`Self::call`]'s parameters, after what `query` binds already.
    pub fn bind<'q, O>(self, query: QueryAs<'q, Postgres, O, PgArguments>) -> QueryAs<'q, Postgres, O, PgArguments>
    where
        'a: 'q,
    {
        query
            .bind(self.ords)
            .bind(self.session_ids)
            .bind(self.kinds)
            .bind(self.artifact_ids)
            .bind(self.recording_types)
            .bind(self.meeting_ids)
            .bind(self.organization_ids)
            .bind(self.states)
            .bind(self.statuses)
            .bind(self.status_ranks)
            .bind(self.expires_at)
            .bind(self.file_names)
            .bind(self.durations)
            .bind(self.started_at)
            .bind(self.stopped_at)
            .bind(self.errors)
            .bind(self.is_recording)
            .bind(self.remove_placeholder)
            .bind(self.archivable)
            .bind(self.first_file)
            .bind(self.last_file)
            .bind(self.files)
            .bind(self.layers)
            .bind(self.urls)
            .bind(self.sizes)
            .bind(self.recorded)
            .bind(self.archive_followup)
            .bind(self.max_attempts)
    }
}

/// Counts an announcement that made its artifact lost (an ERRORED recording), once it changed something.
pub fn count_if_lost(announcement: &Announcement, changed: bool) {
    if changed && announcement.status.as_deref() == Some(RECORDING_ERRORED) {
        crate::observability::artifact_lost(announcement.kind);
    }
}

/// Records an announcement in a transaction of its own, and then `and_then` in the same transaction (the delivery
/// row that brought it, say), and wakes the workers after the commit when it changed something (its archive job
/// may be due); returns what `and_then` returned.
pub async fn announce<T>(
    pool: &PgPool,
    announcement: &Announcement,
    jobs: &JobSpecs,
    and_then: impl AsyncFnOnce(&mut PgConnection, bool) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let (_, changed): (i32, bool) = AnnouncementColumns::of(&[(1, announcement)], Vec::new(), jobs)
        .bind(sqlx::query_as(&APPLY_ONE))
        .fetch_one(&mut *transaction)
        .await?;
    count_if_lost(announcement, changed);
    let result = and_then(&mut transaction, changed).await?;
    transaction.commit().await?;
    if changed {
        followup_jobs::wake_workers(pool).await;
    }
    Ok(result)
}

/// One announcement applied by the call.
static APPLY_ONE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT * FROM {}", AnnouncementColumns::call(1)));
