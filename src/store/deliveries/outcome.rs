//! What became of a delivery, and a verified delivery ready to be recorded.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::artifact::Announcement;
use crate::domain::livestream::LivestreamUpdate;
use crate::domain::names::UnknownValue;
use crate::domain::participant::ParticipantUpdate;
use crate::domain::{Classified, DeliveryBody, DeliveryId, EndedSession, WebhookId};

/// What became of a delivery; each is answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new session was recorded, or news of an artifact (a new one, a later recording status, a fresh URL).
    Stored,
    /// Already known: a retry of a delivery we have, a new delivery for a session already recorded, or an artifact
    /// event that says nothing new (a repeat, or a recording status older than the one recorded).
    Duplicate,
    /// A well-formed event of another type, kept.
    Ignored,
    /// Verified but unusable, kept byte for byte.
    Unprocessable,
    /// Signed by RealtimeKit for an app that is not configured: kept (within `ingest.foreign_deliveries_kept`), and
    /// nothing is done for it until the app is added and the delivery replayed.
    Foreign,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Unprocessable => "unprocessable",
            Self::Foreign => "foreign",
        }
    }

    pub const ALL: [Self; 5] = [
        Self::Stored,
        Self::Duplicate,
        Self::Ignored,
        Self::Unprocessable,
        Self::Foreign,
    ];

    /// The outcome a `status` column holds; an unknown value is an error, never a guess.
    pub fn parse(status: &str) -> Result<Self, UnknownValue> {
        UnknownValue::or_variant(&Self::ALL, Self::as_str, "delivery outcome", status.to_owned())
    }

    pub(super) fn from_column(status: &str) -> Result<Self, sqlx::Error> {
        Self::parse(status).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

/// What a start or an end says of its session's meeting: the columns group commit writes for either.
pub(super) struct MeetingColumns<'a> {
    pub meeting_id: &'a str,
    pub title: Option<&'a str>,
    pub room_name: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub organization_name: Option<&'a str>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
}

/// A verified delivery, ready to be recorded.
#[derive(Debug, Clone)]
pub struct VerifiedDelivery {
    pub delivery_id: DeliveryId,
    pub webhook_id: Option<WebhookId>,
    /// The app it carries (see `domain::apps`).
    pub app_id: Option<String>,
    pub body: DeliveryBody,
    pub classified: Classified,
}

impl VerifiedDelivery {
    pub(super) fn session(&self) -> Option<&EndedSession> {
        match &self.classified {
            Classified::EndedSession(session) => Some(session),
            _ => None,
        }
    }

    /// What a start or an end says of the session's meeting.
    pub(super) fn meeting(&self) -> Option<MeetingColumns<'_>> {
        Some(match &self.classified {
            Classified::EndedSession(s) => MeetingColumns {
                meeting_id: &s.meeting_id,
                title: s.meeting_title.as_deref(),
                room_name: s.room_name.as_deref(),
                organization_id: s.organization_id.as_deref(),
                organization_name: s.organization_name.as_deref(),
                created_at: s.meeting_created_at,
                started_at: s.started_at,
            },
            Classified::Started(s) => MeetingColumns {
                meeting_id: &s.meeting_id,
                title: s.meeting_title.as_deref(),
                room_name: s.room_name.as_deref(),
                organization_id: s.organization_id.as_deref(),
                organization_name: s.organization_name.as_deref(),
                created_at: s.meeting_created_at,
                started_at: s.started_at,
            },
            _ => return None,
        })
    }

    pub(super) fn livestream(&self) -> Option<&LivestreamUpdate> {
        match &self.classified {
            Classified::Livestream(update) => Some(update),
            _ => None,
        }
    }

    pub(super) fn participant(&self) -> Option<&ParticipantUpdate> {
        match &self.classified {
            Classified::Participant { update, .. } => Some(update),
            _ => None,
        }
    }

    /// `session`, `artifact`, `ignored`, `unprocessable` or `foreign`: the batch statement's name for what the
    /// delivery is. (An announcement a batch applied is written with the status it earned instead, see
    /// `record_batch`; foreign deliveries are not batched, see `Ingest::record`.)
    pub(super) fn kind(&self) -> &'static str {
        match &self.classified {
            Classified::Started(_) => "started",
            Classified::EndedSession(_) => "session",
            Classified::Artifact(_) => "artifact",
            Classified::Livestream(_) => "livestream",
            Classified::Participant { .. } => "participant",
            Classified::Ignored { .. } => Outcome::Ignored.as_str(),
            Classified::Unprocessable { .. } => Outcome::Unprocessable.as_str(),
            Classified::Foreign { .. } => Outcome::Foreign.as_str(),
        }
    }

    /// Recorded apart from group commit: a recording event that names no session looks its session up first (and
    /// may have none), and a foreign delivery is counted against its bound.
    pub fn is_recorded_alone(&self) -> bool {
        match &self.classified {
            Classified::Artifact(announcement) => announcement.needs_session(),
            Classified::Foreign { .. } => true,
            _ => false,
        }
    }

    /// The announcement a batch applies before its statement, under its session's lock (see `record_batch`).
    pub(super) fn batched_announcement(&self) -> Option<&Announcement> {
        match &self.classified {
            Classified::Artifact(announcement) if !announcement.needs_session() => Some(announcement),
            _ => None,
        }
    }

    pub(super) fn event(&self) -> Option<&str> {
        self.classified.event()
    }

    pub(super) fn error(&self) -> Option<&str> {
        self.classified.reason()
    }

    pub(super) fn body_sha256(&self) -> &[u8] {
        self.body.sha256()
    }

    /// The same delivery as `unprocessable`, for when the database refused what it says (a value a constraint
    /// refuses, say): its exact bytes are kept with the database's reason, and a replay can try again after a fix.
    pub fn refused_by_database(self, reason: String) -> Self {
        let event = self.event().map(str::to_owned);
        Self {
            classified: Classified::Unprocessable { event, reason },
            ..self
        }
    }
}
